import sharp from "sharp";
import { Rng } from "../../src/rng.js";

/** Smooth colours plus noise, so JPEG chroma subsampling and the decoder's upsampling matter. */
export function pattern(w: number, h: number, seed: number): Buffer {
  const r = new Rng(seed);
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      b[o] = (x * 3 + r.int(40)) & 255;
      b[o + 1] = (y * 5 + r.int(40)) & 255;
      b[o + 2] = (x + y + r.int(60)) & 255;
    }
  }
  return b;
}

/** A sharp pipeline over pattern(w, h, seed), ready to encode. */
export const raw = (w: number, h: number, seed: number) =>
  sharp(pattern(w, h, seed), { raw: { width: w, height: h, channels: 3 } });
