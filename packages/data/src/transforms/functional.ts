/** The image operations behind the transforms, for direct use on an Image (8-bit HWC). */
export { resizeBilinear, crop, hflip } from "./resample.js";
export {
  pyRound,
  randomResizedCropParams,
  resizeOutputSize,
  centerCropBox,
  resizeImage,
  centerCropImage,
  type CropBox,
} from "./geometry.js";
export {
  blend,
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustHue,
  adjustSharpness,
  posterize,
  solarize,
  invert,
  autocontrast,
  equalize,
} from "./color.js";
export { affine, rotate, inverseAffineMatrix, warpAffineNearest } from "./affine.js";
export {
  type AugOp,
  applyOp,
  augmentationSpace,
  IMAGENET_POLICY,
  drawAutoAugment,
  autoAugmentImage,
  randAugmentImage,
} from "./auto-augment.js";
export { toGrayscale, toRgb, luma } from "../image.js";
