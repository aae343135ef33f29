import { readFileSync } from "node:fs";
import { f32ArrayToBf16 } from "@vit/half";
import { decodeImage, decodeImageBox, encodedImageSize } from "./decode.js";
import { DataError, DecodeError, LabelRangeError, ShapeMismatchError, TransformError } from "./errors.js";
import { type Image, toChannels } from "./image.js";
import { Rng, Stream } from "./rng.js";
import { readMemorySample } from "./sources/memory.js";
import { readSyntheticSample } from "./sources/synthetic.js";
import type { SourceSpec } from "./sources/types.js";
import { randomResizedCropParams } from "./transforms/geometry.js";
import { type MixInfo, type MixupOptions, mixBatch, softTargets } from "./transforms/mixup.js";
import { type CompiledPipeline, compilePipeline, tensorLuts, writeChw } from "./transforms/pipeline.js";
import { resizeBilinear, resizeBilinearToTensor } from "./transforms/resample.js";
import type { TransformSpec } from "./transforms/spec.js";

/**
 * Samples read and decoded ahead of the one being transformed. Decoding runs on libuv's threads while this
 * thread resamples, so enough must be in flight that a decode is always ready; more only holds memory.
 */
const READ_AHEAD = 4;

/** Everything a thread needs to turn indices into batches; sent once to each worker. */
export interface PipelineConfig {
  source: SourceSpec;
  transforms: TransformSpec[];
  seed: number;
  rank: number;
  channels: 1 | 3;
  numClasses: number;
  dtype: "float32" | "bfloat16";
  onBadImage: "error" | "skip";
  mixup: Required<MixupOptions> | null;
  labelSmoothing: number;
}

/**
 * One unit of work: a whole batch, so the per-message cost is paid once per batch, not per sample.
 * In-memory and synthetic sets send only indices; file sets add paths and labels; streams add encoded bytes.
 */
export interface BatchTask {
  epoch: number;
  batchIndex: number;
  /** Data set indices (map-style) or positions in the epoch's stream (iterable). Seeds each sample's RNG. */
  indices: Int32Array;
  labels?: Int32Array;
  paths?: string[];
  encoded?: Uint8Array[];
}

export interface BatchResult {
  images: Float32Array | Uint16Array;
  labels: Int32Array;
  targets?: Float32Array;
  shape: [number, number, number, number];
  indices: Int32Array;
  mix?: MixInfo;
  /** Samples dropped under onBadImage: 'skip'. */
  skipped: { path: string; reason: string }[];
}

export interface BatchContext {
  config: PipelineConfig;
  pipeline: CompiledPipeline;
  luts: Map<number, Float32Array[]>;
  /** Reused for a resized crop that goes straight into the batch tensor (it never escapes a sample). */
  scratch: Uint8Array;
}

export async function createBatchContext(config: PipelineConfig): Promise<BatchContext> {
  return {
    config,
    pipeline: await compilePipeline(config.transforms),
    luts: new Map(),
    scratch: new Uint8Array(0),
  };
}

/** The RNG for one sample's augmentations: a pure function of (seed, epoch, index). */
export function sampleRng(seed: number, epoch: number, index: number): Rng {
  return Rng.derive(seed, Stream.sample, epoch, index);
}

interface ReadSample {
  image: Image;
  label: number;
  path: string;
  rng: Rng;
  /** The image is already pipeline.cropOnDecode's box (not yet resized); steps[0] must be skipped. */
  cropped: boolean;
}

/**
 * Reads an image file synchronously. For files of tens of kilobytes in the page cache that costs ~0.01 ms of
 * this thread; the promise-based readFile costs ~0.07 ms of CPU (open, stat, read, close as separate thread-pool
 * round trips), and CPU, not waiting, is what limits the loader. Decodes already in flight keep running on
 * libuv's threads meanwhile.
 */
function readFileBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new DecodeError(path, e instanceof Error ? e.message : String(e));
  }
}

/**
 * Encoded sample with a leading RandomResizedCrop: the box is drawn from the header's size with the sample's
 * generator — the same draws in the same order as the step would make on the decoded image — and only that
 * box is decoded. The rest of the pipeline continues with the same generator.
 */
async function readCropped(
  data: Uint8Array,
  path: string,
  crop: NonNullable<CompiledPipeline["cropOnDecode"]>,
  rng: Rng,
): Promise<Image> {
  const { width, height } = await encodedImageSize(data, path);
  const box = randomResizedCropParams(rng, height, width, crop.scale, crop.ratio);
  return decodeImageBox(data, path, box);
}

async function readSample(ctx: BatchContext, task: BatchTask, k: number): Promise<ReadSample> {
  const cfg = ctx.config;
  const src = cfg.source;
  const index = task.indices[k]!;
  const rng = sampleRng(cfg.seed, task.epoch, index);
  const crop = ctx.pipeline.cropOnDecode;
  switch (src.kind) {
    case "memory":
    case "synthetic":
    case "subset": {
      // A subset reads sample indices[i] of its base set (the augmentation stream stays keyed by i).
      const base = src.kind === "subset" ? src.base : src;
      const at = src.kind === "subset" ? src.indices[index]! : index;
      if (src.kind === "subset" && !(index >= 0 && index < src.indices.length)) {
        throw new RangeError(`${src.name}: index ${index} out of range`);
      }
      const s = base.kind === "memory" ? readMemorySample(base, at) : readSyntheticSample(base, at);
      return { ...s, path: `${base.name}[${at}]`, rng, cropped: false };
    }
    case "files": {
      const path = task.paths![k]!;
      const label = task.labels![k]!;
      if (crop) {
        return {
          image: await readCropped(readFileBytes(path), path, crop, rng),
          label,
          path,
          rng,
          cropped: true,
        };
      }
      return { image: await decodeImage(readFileBytes(path), path), label, path, rng, cropped: false };
    }
    case "encoded": {
      const path = task.paths![k]!;
      const label = task.labels![k]!;
      const bytes = task.encoded![k]!;
      if (crop) return { image: await readCropped(bytes, path, crop, rng), label, path, rng, cropped: true };
      return { image: await decodeImage(bytes, path), label, path, rng, cropped: false };
    }
  }
}

/** Decodes, augments and collates one batch; runs identically in a worker or in the calling thread. */
export async function processBatch(ctx: BatchContext, task: BatchTask): Promise<BatchResult> {
  const { config: cfg, pipeline } = ctx;
  const B = task.indices.length;
  const skipped: BatchResult["skipped"] = [];
  const labels = new Int32Array(B);
  const kept = new Int32Array(B);
  let out: Float32Array | null = null;
  let shape: [number, number, number] | null = null;
  let firstPath = "";
  let n = 0;
  // Decoding runs on libuv's thread pool, so reading a few samples ahead overlaps sharp's native decode
  // with this thread's JavaScript transforms of the current sample.
  const reads: (Promise<ReadSample> | null)[] = new Array(B).fill(null);
  const startRead = (k: number) => {
    if (k < B && !reads[k]) {
      reads[k] = readSample(ctx, task, k);
      reads[k]!.catch(() => {}); // observed when its turn comes; never an unhandled rejection
    }
  };
  const { steps, cropOnDecode, flipLast } = pipeline;
  // A trailing flip is applied by the tensor writer (mirrored write), so the steps stop before it.
  const stepsEnd = flipLast === null ? steps.length : steps.length - 1;
  for (let k = 0; k < B; k++) {
    for (let j = k; j <= k + READ_AHEAD; j++) startRead(j);
    let sample: ReadSample;
    try {
      sample = await reads[k]!;
      reads[k] = null;
    } catch (e) {
      if (cfg.onBadImage === "skip" && e instanceof DecodeError) {
        skipped.push({ path: e.path ?? String(task.indices[k]), reason: e.message });
        continue;
      }
      throw e;
    }
    const { label, path } = sample;
    if (!(label >= 0 && label < cfg.numClasses))
      throw new LabelRangeError(path, label, cfg.numClasses, "sample");
    let img = toChannels(sample.image, cfg.channels);
    const sctx = { rng: sample.rng, index: task.indices[k]!, epoch: task.epoch };
    let first = 0;
    // The decoded image is the crop box; resampling it is the rest of randomResizedCrop. When nothing but the
    // tensor writer follows, resize + flip + normalize happen in one go below ("direct").
    let direct: [number, number] | null = null;
    if (sample.cropped) {
      const [h, w] = cropOnDecode!.size;
      if (stepsEnd === 1) direct = [h, w];
      else img = resizeBilinear(img, w, h);
      first = 1;
    }
    for (let i = first; i < stepsEnd; i++) {
      const step = steps[i]!;
      try {
        img = await step.run(img, sctx);
      } catch (e) {
        if (e instanceof DataError) throw e;
        throw new TransformError(path, step.label, e instanceof Error ? e.message : String(e), e);
      }
    }
    const mirror = flipLast !== null && sctx.rng.next() < flipLast;
    const chw: [number, number, number] = direct
      ? [img.channels, direct[0], direct[1]]
      : [img.channels, img.height, img.width];
    if (!shape) {
      shape = chw;
      firstPath = path;
      out = new Float32Array(B * chw[0] * chw[1] * chw[2]);
    } else if (chw[0] !== shape[0] || chw[1] !== shape[1] || chw[2] !== shape[2]) {
      throw new ShapeMismatchError(path, chw, shape, firstPath);
    }
    let luts = ctx.luts.get(img.channels);
    if (!luts) {
      luts = tensorLuts(img.channels, pipeline.normalize);
      ctx.luts.set(img.channels, luts);
    }
    const offset = n * chw[0] * chw[1] * chw[2];
    if (direct) {
      const [h, w] = direct;
      if (!resizeBilinearToTensor(img, w, h, luts, mirror, out!, offset)) {
        // No SIMD for this case: resize in JavaScript into a reused buffer, then write as usual.
        if (ctx.scratch.length < w * h * img.channels) ctx.scratch = new Uint8Array(w * h * 3);
        writeChw(resizeBilinear(img, w, h, undefined, ctx.scratch), luts, out!, offset, mirror);
      }
    } else {
      writeChw(img, luts, out!, offset, mirror);
    }
    labels[n] = label;
    kept[n] = task.indices[k]!;
    n++;
  }
  const [C, H, W] = shape ?? [cfg.channels, 0, 0];
  let images = out ?? new Float32Array(0);
  if (n < B) images = images.slice(0, n * C * H * W);
  const fullShape: [number, number, number, number] = [n, C, H, W];
  const result: BatchResult = {
    images,
    labels: n < B ? labels.slice(0, n) : labels,
    shape: fullShape,
    indices: n < B ? kept.slice(0, n) : kept,
    skipped,
  };
  if (cfg.mixup && n > 0) {
    const rng = Rng.derive(cfg.seed, Stream.batch, task.epoch, task.batchIndex, cfg.rank);
    result.mix = mixBatch(images, fullShape, cfg.mixup, rng);
    result.targets = softTargets(result.labels, cfg.numClasses, cfg.labelSmoothing, result.mix.lam);
  } else if (cfg.labelSmoothing > 0) {
    result.targets = softTargets(result.labels, cfg.numClasses, cfg.labelSmoothing, 1);
  }
  if (cfg.dtype === "bfloat16") result.images = f32ArrayToBf16(images);
  return result;
}

/** Buffers to hand over (not copy) when posting a result back from a worker. */
export function resultTransferList(r: BatchResult): ArrayBuffer[] {
  const list = [r.images.buffer, r.labels.buffer, r.indices.buffer];
  if (r.targets) list.push(r.targets.buffer);
  return [...new Set(list)] as ArrayBuffer[];
}
