import type { Image } from "../image.js";

/** One decoded sample. */
export interface Sample {
  image: Image;
  label: number;
}

/**
 * How a worker thread reaches a data set's pixels, in a form that survives postMessage: in-memory sets share
 * their SharedArrayBuffer (zero copies however many workers), synthetic sets are regenerated from their seed,
 * and file/stream sets send nothing up front — their paths or encoded bytes travel with each batch.
 */
export type SourceSpec =
  | IndexedSourceSpec
  | { kind: "files"; name: string }
  | { kind: "encoded"; name: string }
  | {
      /** A subset of an indexed set: sample i is base sample indices[i] (classSubset). */
      kind: "subset";
      name: string;
      base: IndexedSourceSpec;
      indices: Int32Array;
    };

/** Sets whose workers read a sample by its index (files and streams send paths or bytes instead). */
export type IndexedSourceSpec =
  | {
      kind: "memory";
      name: string;
      pixels: Uint8Array;
      labels: Int32Array;
      length: number;
      height: number;
      width: number;
      channels: 1 | 3;
    }
  | {
      kind: "synthetic";
      name: string;
      length: number;
      height: number;
      width: number;
      channels: 1 | 3;
      numClasses: number;
      seed: number;
    };

/** A random-access ("map-style") data set. */
export interface Dataset {
  readonly kind: "map";
  /** Short name used in error messages, e.g. "fashion-mnist/train" or the folder root. */
  readonly name: string;
  readonly length: number;
  /** Class names; labels are indices into this list. */
  readonly classes: readonly string[];
  /** Channels of the stored images (decoded folders and shards are always RGB). */
  readonly channels: 1 | 3;
  /** [height, width] when every image has the same size, else undefined. */
  readonly imageSize: readonly [number, number] | undefined;
  label(index: number): number;
  /** What to call sample `index` in messages: its file path, or `name[index]`. */
  samplePath(index: number): string;
  /** Decodes one sample in the calling thread (no augmentation). */
  get(index: number): Promise<Sample>;
  /** @internal How worker threads read this data set. */
  readonly source: SourceSpec;
}

/** An encoded sample from a stream (WebDataset). */
export interface EncodedSample {
  /** Sample key plus shard, for messages: "shard-000.tar:n01440764_10026". */
  key: string;
  bytes: Uint8Array;
  label: number;
}

export interface StreamOptions {
  epoch: number;
  seed: number;
  rank: number;
  worldSize: number;
}

/** A sequential data set read as a stream (tar shards), shuffled through a buffer. */
export interface IterableDataset {
  readonly kind: "iterable";
  readonly name: string;
  readonly classes: readonly string[];
  readonly channels: 3;
  /** Total samples when known up front. */
  readonly length: number | undefined;
  stream(opts: StreamOptions): AsyncIterable<EncodedSample>;
}

export type AnyDataset = Dataset | IterableDataset;
