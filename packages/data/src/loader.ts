import { EventEmitter } from "node:events";
import { availableParallelism } from "node:os";
import {
  type BatchContext,
  type BatchResult,
  type BatchTask,
  type PipelineConfig,
  createBatchContext,
  processBatch,
} from "./batch.js";
import { ConfigError } from "./errors.js";
import { noteJpegSlowPath } from "./jpeg-native.js";
import { DistributedSampler, RandomSampler, type Sampler, SequentialSampler } from "./sampler.js";
import type { AnyDataset, Dataset, EncodedSample, IterableDataset, SourceSpec } from "./sources/types.js";
import { type MixInfo, type MixupOptions, validateMixup } from "./transforms/mixup.js";
import { validateTransforms } from "./transforms/pipeline.js";
import type { TransformSpec } from "./transforms/spec.js";
import { WorkerPool } from "./worker-pool.js";

export interface DataLoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch (map-style sets; streams always shuffle unless the data set says otherwise). Default false. */
  shuffle?: boolean;
  /** Seeds shuffling and every augmentation. Default 0. */
  seed?: number;
  /** Drop the last incomplete batch. Default false. */
  dropLast?: boolean;
  /** Per-sample transforms, applied in order; nested arrays (e.g. resizeCenterCrop) are flattened. */
  transforms?: readonly (TransformSpec | readonly TransformSpec[])[];
  /** Worker threads for decoding/augmenting; 0 runs everything in the calling thread. Default: all cores. */
  numWorkers?: number;
  /** Batches queued per worker (per loader when numWorkers is 0). Default 2. */
  prefetch?: number;
  /** Element type of `images`: float32 (Float32Array) or bfloat16 (Uint16Array bits). Default float32. */
  dtype?: "float32" | "bfloat16";
  /** Output channels: 3 expands grayscale, 1 converts RGB to luma. Default: the data set's channels. */
  channels?: 1 | 3;
  /** Batch-level mixup/cutmix; produces `targets`. */
  mixup?: MixupOptions | false;
  /** Label smoothing ε for `targets` (produced whenever ε > 0 or mixup is on). Default 0. */
  labelSmoothing?: number;
  /** Custom sampler (map-style sets only); overrides shuffle/distributed. */
  sampler?: Sampler;
  /** Shard the epoch across ranks like torch's DistributedSampler (padding by default). */
  distributed?: { rank: number; worldSize: number };
  /** What to do with an image that cannot be read or decoded. Default 'error'. */
  onBadImage?: "error" | "skip";
  /** Advanced: worker script to start (defaults to the package's dist/worker.js). */
  workerUrl?: URL;
}

/** One collated batch. `images` is NCHW: shape [B, C, H, W]. */
export interface Batch {
  images: Float32Array | Uint16Array;
  labels: Int32Array;
  /** Soft targets [B, numClasses] when mixup or label smoothing is on. */
  targets?: Float32Array;
  shape: [number, number, number, number];
  /** Data set index of each sample (stream position for iterable sets). */
  indices: Int32Array;
  /** The mixing applied to this batch, when mixup is on. */
  mix?: MixInfo;
}

/** Everything needed to continue an interrupted run exactly where it stopped. */
export interface LoaderState {
  /** The epoch in progress. */
  epoch: number;
  /** Batches of that epoch already delivered. */
  position: number;
  /**
   * The RNG state. All randomness (shuffles, augmentations, mixup) is hashed from (seed, epoch, index), so the
   * seed is the whole generator state.
   */
  seed: number;
  batchSize: number;
  /** Samples per epoch on this rank (null for streams of unknown length). */
  samplesPerEpoch: number | null;
}

export interface SkipEvent {
  path: string;
  reason: string;
}

/**
 * Batches from any data set as an async iterable: `for await (const batch of loader)` runs one epoch; the
 * next loop runs the next epoch. Work is split into whole-batch tasks for a pool of worker threads (decode,
 * augment, collate), results arrive in order, and up to numWorkers·prefetch batches are in flight.
 * Emits "skip" (SkipEvent) for every image skipped under onBadImage: 'skip'.
 */
export class DataLoader extends EventEmitter implements AsyncIterable<Batch> {
  readonly dataset: AnyDataset;
  readonly batchSize: number;
  readonly numWorkers: number;
  readonly prefetch: number;
  readonly dropLast: boolean;
  private samplerImpl: Sampler | null;
  private readonly ownSampler: boolean;
  private readonly shuffle: boolean;
  /** Images skipped so far (onBadImage: 'skip'). */
  skipped = 0;
  /** Tasks handed to worker threads so far: one per batch (0 in-process). */
  tasksPosted = 0;
  private seed: number;
  private epochNo = 0;
  private pos = 0;
  private readonly config: PipelineConfig;
  private readonly rank: number;
  private readonly worldSize: number;
  private readonly workerUrl: URL | undefined;
  private pool: WorkerPool | null = null;
  private local: Promise<BatchContext> | null = null;
  private active = false;

  constructor(dataset: AnyDataset, opts: DataLoaderOptions) {
    super();
    if (!Number.isInteger(opts.batchSize) || opts.batchSize <= 0) {
      throw new ConfigError(`DataLoader: batchSize ${opts.batchSize}`, "pass a positive integer batchSize");
    }
    const numWorkers = opts.numWorkers ?? availableParallelism();
    if (!Number.isInteger(numWorkers) || numWorkers < 0) {
      throw new ConfigError(
        `DataLoader: numWorkers ${numWorkers}`,
        "pass 0 (in-process) or a positive integer",
      );
    }
    const prefetch = opts.prefetch ?? 2;
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new ConfigError(`DataLoader: prefetch ${prefetch}`, "pass a positive integer");
    }
    const smoothing = opts.labelSmoothing ?? 0;
    if (!(smoothing >= 0 && smoothing < 1)) {
      throw new ConfigError(`DataLoader: labelSmoothing ${smoothing}`, "use a value in [0, 1)");
    }
    this.dataset = dataset;
    this.batchSize = opts.batchSize;
    this.numWorkers = numWorkers;
    this.prefetch = prefetch;
    this.dropLast = opts.dropLast ?? false;
    this.seed = opts.seed ?? 0;
    this.rank = opts.distributed?.rank ?? 0;
    this.worldSize = opts.distributed?.worldSize ?? 1;
    this.workerUrl = opts.workerUrl;
    this.shuffle = opts.shuffle ?? false;
    this.ownSampler = opts.sampler !== undefined;
    if (dataset.kind === "map") {
      if (dataset.length === 0)
        throw new ConfigError(`DataLoader: ${dataset.name} is empty`, "use a non-empty data set");
      this.samplerImpl = opts.sampler ?? this.defaultSampler(dataset.length, opts.distributed);
    } else {
      if (opts.sampler) {
        throw new ConfigError(
          "DataLoader: samplers need random access",
          "streams shard by rank via distributed",
        );
      }
      if (opts.distributed) new DistributedSampler(1, { ...opts.distributed }); // validates rank/worldSize
      this.samplerImpl = null;
    }
    const transforms = (opts.transforms ?? []).flat() as TransformSpec[];
    validateTransforms(transforms, opts.channels ?? dataset.channels);
    const source: SourceSpec =
      dataset.kind === "iterable" ? { kind: "encoded", name: dataset.name } : dataset.source;
    // Encoded images are decoded in the workers, which stay quiet: the notice about a missing native JPEG
    // decoder comes from here, once per process.
    if (source.kind === "files" || source.kind === "encoded") noteJpegSlowPath();
    this.config = {
      source,
      transforms,
      seed: this.seed,
      rank: this.rank,
      channels: opts.channels ?? dataset.channels,
      numClasses: dataset.classes.length,
      dtype: opts.dtype ?? "float32",
      onBadImage: opts.onBadImage ?? "error",
      mixup: opts.mixup ? validateMixup(opts.mixup) : null,
      labelSmoothing: smoothing,
    };
  }

  /** The sampler in use (null for streams). */
  get sampler(): Sampler | null {
    return this.samplerImpl;
  }

  private defaultSampler(n: number, distributed: DataLoaderOptions["distributed"]): Sampler {
    if (distributed)
      return new DistributedSampler(n, { ...distributed, shuffle: this.shuffle, seed: this.seed });
    return this.shuffle ? new RandomSampler(n, this.seed) : new SequentialSampler(n);
  }

  /** Batches per epoch, when known. */
  get length(): number | undefined {
    const n = this.sampler ? this.sampler.length : undefined;
    if (n === undefined) return undefined;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The epoch the next (or current) loop covers. */
  get epoch(): number {
    this.rollOver();
    return this.epochNo;
  }

  /** Jump to an epoch (starting at its first batch), e.g. to line up with a schedule. */
  setEpoch(epoch: number): void {
    this.assertIdle("setEpoch");
    this.epochNo = epoch;
    this.pos = 0;
  }

  state(): LoaderState {
    this.rollOver();
    return {
      epoch: this.epochNo,
      position: this.pos,
      seed: this.seed,
      batchSize: this.batchSize,
      samplesPerEpoch: this.sampler ? this.sampler.length : null,
    };
  }

  /** Restores a state() snapshot: the next loop yields exactly the batches the saved run had not seen yet. */
  loadState(s: LoaderState): void {
    this.assertIdle("loadState");
    if (s.batchSize !== this.batchSize) {
      throw new ConfigError(
        `loadState: state was saved with batchSize ${s.batchSize}, this loader uses ${this.batchSize}`,
        "resume with the same batch size",
      );
    }
    const n = this.sampler ? this.sampler.length : null;
    if (s.samplesPerEpoch !== n) {
      throw new ConfigError(
        `loadState: state covers ${s.samplesPerEpoch} samples per epoch, this loader ${n}`,
        "resume with the same data set, rank and world size",
      );
    }
    if (s.seed !== this.seed) {
      if (this.ownSampler) {
        throw new ConfigError(
          `loadState: state seed ${s.seed} differs from this loader's ${this.seed} and the sampler is user-supplied`,
          "construct the sampler and the loader with the saved seed",
        );
      }
      this.seed = s.seed;
      this.config.seed = s.seed;
      if (this.dataset.kind === "map") {
        const dist = this.worldSize > 1 || this.samplerImpl instanceof DistributedSampler;
        this.samplerImpl = this.defaultSampler(
          this.dataset.length,
          dist ? { rank: this.rank, worldSize: this.worldSize } : undefined,
        );
      }
      this.local = null;
      void this.pool?.close();
      this.pool = null;
    }
    this.epochNo = s.epoch;
    this.pos = s.position;
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.iterate();
  }

  /** Stops the workers (waiting for their current batch). The loader can still be iterated afterwards. */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    if (p) await p.close();
  }

  private assertIdle(what: string): void {
    if (this.active)
      throw new ConfigError(`${what} while an epoch is being iterated`, "finish or break the loop first");
  }

  private rollOver(): void {
    const nb = this.length;
    if (nb !== undefined && this.pos >= nb && !this.active) {
      this.epochNo++;
      this.pos = 0;
    }
  }

  private executor(): (task: BatchTask, transfer: ArrayBuffer[]) => Promise<BatchResult> {
    if (this.numWorkers === 0) {
      this.local ??= createBatchContext(this.config);
      const ctx = this.local;
      return async (task) => processBatch(await ctx, task);
    }
    if (!this.pool || this.pool.failed) {
      this.pool = new WorkerPool(this.numWorkers, this.config, this.workerUrl);
    }
    const pool = this.pool;
    return (task, transfer) => {
      this.tasksPosted++;
      return pool.run(task, transfer);
    };
  }

  private async *iterate(): AsyncGenerator<Batch> {
    if (this.active) {
      throw new ConfigError("DataLoader is already being iterated", "finish or break the current loop first");
    }
    this.rollOver();
    this.active = true;
    try {
      if (this.dataset.kind === "map") yield* this.iterateMap(this.dataset);
      else yield* this.iterateStream(this.dataset);
      this.epochNo++;
      this.pos = 0;
    } catch (e) {
      // A crashed pool is rebuilt on the next loop; make sure its remaining threads go away.
      if (this.pool?.failed) {
        const p = this.pool;
        this.pool = null;
        await p.close();
      }
      throw e;
    } finally {
      this.active = false;
    }
  }

  private deliver(r: BatchResult): Batch | null {
    for (const s of r.skipped) {
      this.skipped++;
      this.emit("skip", s satisfies SkipEvent);
    }
    if (r.shape[0] === 0) return null;
    const b: Batch = { images: r.images, labels: r.labels, shape: r.shape, indices: r.indices };
    if (r.targets) b.targets = r.targets;
    if (r.mix) b.mix = r.mix;
    return b;
  }

  private async *iterateMap(ds: Dataset): AsyncGenerator<Batch> {
    const epoch = this.epochNo;
    const order = this.sampler!.indices(epoch);
    const nb = this.length!;
    const exec = this.executor();
    const depth = Math.max(1, this.numWorkers) * this.prefetch;
    const files = ds.source.kind === "files";
    const pending: Promise<BatchResult>[] = [];
    let next = this.pos;
    const B = this.batchSize;
    while (this.pos < nb) {
      while (next < nb && pending.length < depth) {
        const indices = order.slice(next * B, Math.min((next + 1) * B, order.length));
        const task: BatchTask = { epoch, batchIndex: next, indices };
        const transfer: ArrayBuffer[] = [indices.buffer as ArrayBuffer];
        if (files) {
          task.paths = Array.from(indices, (i) => ds.samplePath(i));
          task.labels = Int32Array.from(indices, (i) => ds.label(i));
          transfer.push(task.labels.buffer as ArrayBuffer);
        }
        const p = exec(task, this.numWorkers > 0 ? transfer : []);
        p.catch(() => {}); // rejections surface when this batch's turn comes; never as unhandled
        pending.push(p);
        next++;
      }
      const r = await pending.shift()!;
      this.pos++;
      const b = this.deliver(r);
      if (b) yield b;
    }
  }

  private async *iterateStream(ds: IterableDataset): AsyncGenerator<Batch> {
    const epoch = this.epochNo;
    const B = this.batchSize;
    const exec = this.executor();
    const depth = Math.max(1, this.numWorkers) * this.prefetch;
    const it = ds
      .stream({ epoch, seed: this.seed, rank: this.rank, worldSize: this.worldSize })
      [Symbol.asyncIterator]();
    const pending: Promise<BatchResult>[] = [];
    let position = 0;
    let next = this.pos;
    // Resuming: the stream order is a pure function of (seed, epoch, rank), so skipping re-reads but never decodes.
    for (let i = 0; i < this.pos * B; i++) {
      if ((await it.next()).done) return;
      position++;
    }
    let ended = false;
    const take = async (): Promise<EncodedSample[]> => {
      const out: EncodedSample[] = [];
      while (out.length < B && !ended) {
        const r = await it.next();
        if (r.done) ended = true;
        else out.push(r.value);
      }
      return out;
    };
    try {
      for (;;) {
        while (!ended && pending.length < depth) {
          const samples = await take();
          if (samples.length === 0 || (samples.length < B && this.dropLast)) break;
          const indices = Int32Array.from(samples, (_, k) => (position + k) * this.worldSize + this.rank);
          position += samples.length;
          const task: BatchTask = {
            epoch,
            batchIndex: next++,
            indices,
            labels: Int32Array.from(samples, (s) => s.label),
            paths: samples.map((s) => s.key),
            encoded: samples.map((s) => s.bytes),
          };
          const transfer =
            this.numWorkers > 0
              ? [indices.buffer, task.labels!.buffer, ...samples.map((s) => s.bytes.buffer)]
              : [];
          const p = exec(task, transfer as ArrayBuffer[]);
          p.catch(() => {});
          pending.push(p);
        }
        if (pending.length === 0) return;
        const r = await pending.shift()!;
        this.pos++;
        const b = this.deliver(r);
        if (b) yield b;
      }
    } finally {
      await it.return?.();
    }
  }
}
