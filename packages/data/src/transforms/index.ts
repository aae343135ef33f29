export {
  type TransformSpec,
  IMAGENET_MEAN,
  IMAGENET_STD,
  DEFAULT_CROP_FRACTION,
  randomResizedCrop,
  randomHorizontalFlip,
  resize,
  centerCrop,
  resizeCenterCrop,
  colorJitter,
  autoAugment,
  randAugment,
  normalize,
  custom,
} from "./spec.js";
export type { CustomTransform, CustomTransformContext } from "./pipeline.js";
export { type MixupOptions, type MixInfo, mixBatch, softTargets } from "./mixup.js";
