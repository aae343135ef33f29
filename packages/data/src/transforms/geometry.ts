import type { Image } from "../image.js";
import type { Rng } from "../rng.js";
import { crop, resizeBilinear } from "./resample.js";

/** Python's round(): halves go to the even neighbour. torchvision's crop arithmetic relies on it. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * torchvision's RandomResizedCrop.get_params: ten tries at a box with area fraction in `scale` and a
 * log-uniform aspect ratio in `ratio` that fits in the image, then a centre crop clamped to the ratio range.
 */
export function randomResizedCropParams(
  rng: Pick<Rng, "uniform" | "int">,
  height: number,
  width: number,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  const lo = Math.min(ratio[0], ratio[1]);
  const hi = Math.max(ratio[0], ratio[1]);
  if (inRatio < lo) {
    w = width;
    h = pyRound(w / lo);
  } else if (inRatio > hi) {
    h = height;
    w = pyRound(h * hi);
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** Output size of torchvision's Resize: an int sets the shorter side (longer side truncated), a pair is [h, w]. */
export function resizeOutputSize(
  height: number,
  width: number,
  size: number | readonly [number, number],
): [number, number] {
  if (typeof size !== "number") return [size[0], size[1]];
  if (width <= height) return [Math.trunc((size * height) / width), size];
  return [size, Math.trunc((size * width) / height)];
}

/** torchvision's center_crop box, including its zero padding when the crop is larger than the image. */
export function centerCropBox(height: number, width: number, cropH: number, cropW: number): CropBox {
  // Padding splits the excess as (excess // 2) before and the rest after; expressed as negative offsets.
  const padTop = cropH > height ? Math.floor((cropH - height) / 2) : 0;
  const padLeft = cropW > width ? Math.floor((cropW - width) / 2) : 0;
  const ph = cropH > height ? height + padTop + Math.floor((cropH - height + 1) / 2) : height;
  const pw = cropW > width ? width + padLeft + Math.floor((cropW - width + 1) / 2) : width;
  const top = pyRound((ph - cropH) / 2) - padTop;
  const left = pyRound((pw - cropW) / 2) - padLeft;
  return { top, left, height: cropH, width: cropW };
}

export function resizeImage(img: Image, size: number | readonly [number, number]): Image {
  const [h, w] = resizeOutputSize(img.height, img.width, size);
  return resizeBilinear(img, w, h);
}

export function centerCropImage(img: Image, size: number | readonly [number, number]): Image {
  const [ch, cw] = typeof size === "number" ? [size, size] : size;
  const b = centerCropBox(img.height, img.width, ch, cw);
  return crop(img, b.top, b.left, b.height, b.width);
}

export function randomResizedCropImage(
  img: Image,
  rng: Rng,
  size: readonly [number, number],
  scale: readonly [number, number],
  ratio: readonly [number, number],
): Image {
  const b = randomResizedCropParams(rng, img.height, img.width, scale, ratio);
  // torchvision crops then resizes; resampling the box directly gives the same pixels without a copy.
  return resizeBilinear(img, size[1], size[0], b);
}
