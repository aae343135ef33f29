import { ConfigError, LabelRangeError } from "../errors.js";
import { isShared, sharedBytes, sharedInt32 } from "../shared.js";
import type { Dataset, Sample, SourceSpec } from "./types.js";

export interface InMemoryOptions {
  name: string;
  /** N·H·W·C bytes, interleaved (HWC) per image. */
  pixels: Uint8Array;
  labels: ArrayLike<number>;
  height: number;
  width: number;
  channels: 1 | 3;
  classes: readonly string[];
  /** File the labels came from, for error messages. */
  labelFile?: string;
}

/**
 * A fixed-size image set held in one SharedArrayBuffer (IDX, CIFAR, Fashion-MNIST, or your own arrays).
 * Workers map the same memory, so the loader's batch tasks carry only indices.
 */
export class InMemoryDataset implements Dataset {
  readonly kind = "map" as const;
  readonly name: string;
  readonly length: number;
  readonly classes: readonly string[];
  readonly channels: 1 | 3;
  readonly imageSize: readonly [number, number];
  /** N·H·W·C bytes on a SharedArrayBuffer. */
  readonly pixels: Uint8Array;
  readonly labels: Int32Array;

  constructor(opts: InMemoryOptions) {
    const { height, width, channels } = opts;
    const per = height * width * channels;
    const n = opts.labels.length;
    if (opts.pixels.length !== n * per) {
      throw new ConfigError(
        `${opts.name}: ${opts.pixels.length} pixel bytes for ${n} labels of ${height}x${width}x${channels} images (expected ${n * per})`,
        "pass one label per image and pixels laid out as N·H·W·C bytes",
      );
    }
    const numClasses = opts.classes.length;
    const labels = sharedInt32(n);
    for (let i = 0; i < n; i++) {
      const l = opts.labels[i]!;
      if (!Number.isInteger(l) || l < 0 || l >= numClasses) {
        throw new LabelRangeError(opts.labelFile ?? opts.name, l, numClasses, `index ${i}`);
      }
      labels[i] = l;
    }
    let pixels = opts.pixels;
    if (!isShared(pixels)) {
      pixels = sharedBytes(opts.pixels.length);
      pixels.set(opts.pixels);
    }
    this.name = opts.name;
    this.length = n;
    this.classes = opts.classes;
    this.channels = channels;
    this.imageSize = [height, width];
    this.pixels = pixels;
    this.labels = labels;
  }

  label(index: number): number {
    return this.labels[index]!;
  }

  samplePath(index: number): string {
    return `${this.name}[${index}]`;
  }

  async get(index: number): Promise<Sample> {
    return readMemorySample(this.source as Extract<SourceSpec, { kind: "memory" }>, index);
  }

  get source(): SourceSpec {
    return {
      kind: "memory",
      name: this.name,
      pixels: this.pixels,
      labels: this.labels,
      length: this.length,
      height: this.imageSize[0],
      width: this.imageSize[1],
      channels: this.channels,
    };
  }
}

export function readMemorySample(spec: Extract<SourceSpec, { kind: "memory" }>, index: number): Sample {
  if (!(index >= 0 && index < spec.length)) throw new RangeError(`${spec.name}: index ${index} out of range`);
  const per = spec.height * spec.width * spec.channels;
  // Copy out of shared memory: transforms may write in place and must never touch the shared set.
  const data = spec.pixels.slice(index * per, (index + 1) * per);
  return {
    image: { data, width: spec.width, height: spec.height, channels: spec.channels },
    label: spec.labels[index]!,
  };
}
