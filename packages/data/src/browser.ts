/**
 * @vit/data for browsers (the package's `browser` export): the pure parts — transforms on 8-bit HWC
 * images, mixup/cutmix, the counter-based RNG, bf16 packing and the error classes. Data sets, decoding
 * (sharp, libjpeg) and the worker-thread loader read files and are Node-only; a page decodes with
 * createImageBitmap and builds batches in a Web Worker (see apps/web).
 */
export * as T from "./transforms/index.js";
export * from "./transforms/index.js";
export * as F from "./transforms/functional.js";
export type { Image } from "./image.js";
export { f32ArrayToBf16 as toBfloat16, bf16ArrayToF32 as fromBfloat16 } from "@vit/half";
export { Rng, hashSeed } from "./rng.js";
export {
  DataError,
  NotFoundError,
  EmptyDatasetError,
  DecodeError,
  FormatError,
  LabelRangeError,
  ShapeMismatchError,
  TransformError,
  WorkerCrashError,
  ConfigError,
} from "./errors.js";
