import { ConfigError } from "../errors.js";
import { Rng, Stream } from "../rng.js";
import type { Dataset, Sample, SourceSpec } from "./types.js";

export interface SyntheticOptions {
  length: number;
  height: number;
  width: number;
  channels?: 1 | 3;
  numClasses?: number;
  seed?: number;
}

/**
 * Seeded random images and labels of any size and count, generated on demand (nothing is stored, so a
 * million 224x224 "images" cost no memory). Sample i is a pure function of (seed, i). Meant for benchmarks
 * and smoke tests of the training loop.
 */
export class SyntheticDataset implements Dataset {
  readonly kind = "map" as const;
  readonly name: string;
  readonly length: number;
  readonly classes: readonly string[];
  readonly channels: 1 | 3;
  readonly imageSize: readonly [number, number];
  private readonly spec: Extract<SourceSpec, { kind: "synthetic" }>;

  constructor(opts: SyntheticOptions) {
    const channels = opts.channels ?? 3;
    const numClasses = opts.numClasses ?? 10;
    for (const [k, v] of Object.entries({
      length: opts.length,
      height: opts.height,
      width: opts.width,
      numClasses,
    })) {
      if (!Number.isInteger(v) || v <= 0) {
        throw new ConfigError(`synthetic: ${k} must be a positive integer, got ${v}`, `pass a positive ${k}`);
      }
    }
    this.name = `synthetic(${opts.length}x${channels}x${opts.height}x${opts.width})`;
    this.length = opts.length;
    this.channels = channels;
    this.imageSize = [opts.height, opts.width];
    this.classes = Array.from({ length: numClasses }, (_, i) => `class${i}`);
    this.spec = {
      kind: "synthetic",
      name: this.name,
      length: opts.length,
      height: opts.height,
      width: opts.width,
      channels,
      numClasses,
      seed: opts.seed ?? 0,
    };
  }

  label(index: number): number {
    return syntheticLabel(this.spec, index);
  }

  samplePath(index: number): string {
    return `${this.name}[${index}]`;
  }

  async get(index: number): Promise<Sample> {
    return readSyntheticSample(this.spec, index);
  }

  get source(): SourceSpec {
    return this.spec;
  }
}

export function synthetic(opts: SyntheticOptions): SyntheticDataset {
  return new SyntheticDataset(opts);
}

function syntheticLabel(spec: Extract<SourceSpec, { kind: "synthetic" }>, index: number): number {
  return Rng.derive(spec.seed, Stream.synthetic, index, 1).int(spec.numClasses);
}

export function readSyntheticSample(spec: Extract<SourceSpec, { kind: "synthetic" }>, index: number): Sample {
  if (!(index >= 0 && index < spec.length)) throw new RangeError(`${spec.name}: index ${index} out of range`);
  const rng = Rng.derive(spec.seed, Stream.synthetic, index, 0);
  const n = spec.height * spec.width * spec.channels;
  const data = new Uint8Array(n);
  const words = new Uint32Array(data.buffer, 0, n >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = rng.nextU32();
  for (let i = words.length * 4; i < n; i++) data[i] = rng.nextU32() & 0xff;
  return {
    image: { data, width: spec.width, height: spec.height, channels: spec.channels },
    label: syntheticLabel(spec, index),
  };
}
