/**
 * Images from the user (a dropped/picked file or the drawing pad) to the model's input, with the same
 * steps as `vit predict`: decode to 8-bit RGB, to grayscale or RGB as the model wants (@vit/data's PIL-exact
 * conversions), bilinear resize to the model's size (@vit/data's resizeBilinear), then (v / 255 - mean) / std.
 * Decoding is the browser's (createImageBitmap onto an OffscreenCanvas), with colour management off so a
 * PNG's bytes arrive unchanged.
 */
import { VitError } from "@vit/tensor";
import { F, type Image } from "@vit/data";
import type { ViTConfig } from "@vit/model";

export async function imageFromBlob(blob: Blob): Promise<Image> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new VitError(
      `${(blob as File).name || "the image"} is not an image the browser can decode (PNG, JPEG, WebP, GIF, BMP)`,
    );
  }
  return imageFromSource(bitmap, bitmap.width, bitmap.height);
}

/** RGB bytes of anything drawable (an ImageBitmap, a canvas). */
export function imageFromSource(src: CanvasImageSource, width: number, height: number): Image {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" })!;
  ctx.drawImage(src, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: "srgb" }).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = rgba[j]!;
    rgb[i + 1] = rgba[j + 1]!;
    rgb[i + 2] = rgba[j + 2]!;
  }
  return { data: rgb, width, height, channels: 3 };
}

/** The model's input for one image: NCHW floats. */
export function toInput(img: Image, c: ViTConfig, mean: number[], std: number[]): Float32Array {
  let x = c.num_channels === 1 ? F.toGrayscale(img) : F.toRgb(img);
  x = F.resizeBilinear(x, c.img_w, c.img_h);
  const plane = c.img_h * c.img_w;
  const out = new Float32Array(c.num_channels * plane);
  for (let ch = 0; ch < c.num_channels; ch++) {
    for (let p = 0; p < plane; p++)
      out[ch * plane + p] = (x.data[p * c.num_channels + ch]! / 255 - mean[ch]!) / std[ch]!;
  }
  return out;
}

export function softmax(logits: Float32Array): Float32Array {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export function top5(
  probs: Float32Array,
  classes: string[],
): Array<{ index: number; name: string; probability: number }> {
  return [...probs]
    .map((p, index) => ({ index, name: classes[index] ?? String(index), probability: p }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, 5);
}
