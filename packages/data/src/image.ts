/**
 * The pipeline keeps images as 8-bit interleaved HWC, like PIL does, until the very last step writes the
 * float tensor: geometric and photometric augmentations then behave (and round) like torchvision's PIL path,
 * and intermediate images stay 4x smaller than float copies.
 */
export interface Image {
  /** Interleaved pixels, row-major, `height * width * channels` bytes. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

export function createImage(width: number, height: number, channels: 1 | 3, fill = 0): Image {
  const data = new Uint8Array(width * height * channels);
  if (fill !== 0) data.fill(fill);
  return { data, width, height, channels };
}

/** ITU-R 601-2 luma with PIL's exact fixed-point rounding (`convert("L")`). */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

/** PIL-equivalent RGB→L conversion. */
export function toGrayscale(img: Image): Image {
  if (img.channels === 1) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = luma(d[j]!, d[j + 1]!, d[j + 2]!);
  return { data: out, width: img.width, height: img.height, channels: 1 };
}

/** Replicates a single channel into RGB (PIL `convert("RGB")` on an L image). */
export function toRgb(img: Image): Image {
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const d = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const v = d[i]!;
    out[j] = v;
    out[j + 1] = v;
    out[j + 2] = v;
  }
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

export function toChannels(img: Image, channels: 1 | 3): Image {
  return channels === 3 ? toRgb(img) : toGrayscale(img);
}
