/**
 * @vit/data — image data sets, seeded augmentations and a worker-thread DataLoader producing NCHW batches
 * for @vit/model.
 */
export * as T from "./transforms/index.js";
export * from "./transforms/index.js";
export * as F from "./transforms/functional.js";

export {
  DataLoader,
  type DataLoaderOptions,
  type Batch,
  type LoaderState,
  type SkipEvent,
} from "./loader.js";
export {
  type Sampler,
  SequentialSampler,
  RandomSampler,
  DistributedSampler,
  type DistributedSamplerOptions,
} from "./sampler.js";

export type {
  Dataset,
  IterableDataset,
  AnyDataset,
  Sample,
  EncodedSample,
  StreamOptions,
} from "./sources/types.js";
export { InMemoryDataset, type InMemoryOptions } from "./sources/memory.js";
export { ClassSubsetDataset, classSubset, type ClassSubsetOptions } from "./sources/class-subset.js";
export { SyntheticDataset, synthetic, type SyntheticOptions } from "./sources/synthetic.js";
export { idxDataset, parseIdx, type IdxOptions, type IdxArray } from "./sources/idx.js";
export {
  cifarDataset,
  type CifarOptions,
  CIFAR10_CLASSES,
  CIFAR100_CLASSES,
  CIFAR100_COARSE_CLASSES,
} from "./sources/cifar.js";
export { imageFolder, ImageFolderDataset, type ImageFolderOptions } from "./sources/image-folder.js";
export { webDataset, WebDataset, type WebDatasetOptions } from "./sources/webdataset.js";
export {
  fashionMnist,
  FashionMnistDataset,
  type FashionMnistOptions,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  FASHION_MNIST_SPLIT_SEED,
  fashionMnistCachePath,
} from "./sources/fashion-mnist.js";
export { writeSyntheticImageFolder, type SyntheticFolderOptions } from "./sources/synthetic-folder.js";

export type { Image } from "./image.js";
export { decodeImage, encodeImage, IMAGE_EXTENSIONS } from "./decode.js";
export { jpegDecoderInfo } from "./jpeg-native.js";
// bfloat16 batches: the one host conversion, @vit/half, under the names this package has exported.
export { f32ArrayToBf16 as toBfloat16, bf16ArrayToF32 as fromBfloat16 } from "@vit/half";
export { Rng, hashSeed } from "./rng.js";
export { cacheDir, writeFileAtomic } from "./cache.js";
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
