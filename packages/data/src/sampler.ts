import { ConfigError } from "./errors.js";
import { Rng, Stream } from "./rng.js";

/** Decides which data set indices an epoch visits, in which order. */
export interface Sampler {
  /** Indices per epoch. */
  readonly length: number;
  indices(epoch: number): Int32Array;
}

export class SequentialSampler implements Sampler {
  constructor(readonly length: number) {}

  indices(): Int32Array {
    const out = new Int32Array(this.length);
    for (let i = 0; i < out.length; i++) out[i] = i;
    return out;
  }
}

/** A fresh permutation every epoch, a pure function of (seed, epoch). */
export class RandomSampler implements Sampler {
  constructor(
    readonly length: number,
    readonly seed = 0,
  ) {}

  indices(epoch: number): Int32Array {
    return Rng.derive(this.seed, Stream.shuffle, epoch).permutation(this.length);
  }
}

export interface DistributedSamplerOptions {
  rank: number;
  worldSize: number;
  shuffle?: boolean;
  seed?: number;
  /** Drop the tail so every rank gets floor(N / worldSize) samples, instead of padding. */
  dropLast?: boolean;
}

/**
 * torch.utils.data.DistributedSampler: every rank draws the same (seed, epoch) permutation, the list is padded
 * by repeating its head (or truncated, with dropLast) to a multiple of worldSize, and rank r takes positions
 * r, r + worldSize, ... — so shards are disjoint, equally long, and together cover the epoch.
 */
export class DistributedSampler implements Sampler {
  readonly length: number;
  readonly totalSize: number;
  readonly rank: number;
  readonly worldSize: number;
  private readonly shuffle: boolean;
  private readonly seed: number;
  private readonly dropLast: boolean;

  constructor(
    readonly datasetLength: number,
    opts: DistributedSamplerOptions,
  ) {
    const { rank, worldSize } = opts;
    if (
      !(
        Number.isInteger(worldSize) &&
        worldSize >= 1 &&
        Number.isInteger(rank) &&
        rank >= 0 &&
        rank < worldSize
      )
    ) {
      throw new ConfigError(
        `DistributedSampler: rank ${rank} / worldSize ${worldSize}`,
        "use 0 <= rank < worldSize",
      );
    }
    if (datasetLength <= 0)
      throw new ConfigError("DistributedSampler: empty data set", "use a non-empty data set");
    this.rank = rank;
    this.worldSize = worldSize;
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.dropLast = opts.dropLast ?? false;
    this.length =
      this.dropLast && datasetLength % worldSize !== 0
        ? Math.ceil((datasetLength - worldSize) / worldSize)
        : Math.ceil(datasetLength / worldSize);
    this.totalSize = this.length * worldSize;
  }

  indices(epoch: number): Int32Array {
    const n = this.datasetLength;
    const all = this.shuffle
      ? Rng.derive(this.seed, Stream.shuffle, epoch).permutation(n)
      : Int32Array.from({ length: n }, (_, i) => i);
    const out = new Int32Array(this.length);
    for (let k = 0; k < this.length; k++) {
      // Position in the padded list; positions past n wrap to the head, as torch's repeated concatenation does.
      const pos = this.rank + k * this.worldSize;
      out[k] = all[pos % n]!;
    }
    return out;
  }
}
