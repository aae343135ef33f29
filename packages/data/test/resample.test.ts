import { describe, expect, it } from "vitest";
import type { Image } from "../src/image.js";
import { Rng } from "../src/rng.js";
import { crop, hflip, resizeBilinear } from "../src/transforms/resample.js";

function randomImage(w: number, h: number, c: 1 | 3, seed: number): Image {
  const r = new Rng(seed);
  return { data: Uint8Array.from({ length: w * h * c }, () => r.int(256)), width: w, height: h, channels: c };
}

const px = (img: Image, x: number, y: number, k: number) => img.data[(y * img.width + x) * img.channels + k]!;

/**
 * Float64 reference of antialiased bilinear resampling, written from its definition: each output pixel is the
 * normalized integral of the source against a triangle of half-width max(scale, 1) (in source pixels) centred
 * on the output pixel's centre, restricted to the image.
 */
function referenceResize(img: Image, outW: number, outH: number): Float64Array {
  const weights = (inSize: number, outSize: number, o: number) => {
    const scale = inSize / outSize;
    const support = Math.max(scale, 1);
    const centre = (o + 0.5) * scale;
    const w = new Float64Array(inSize);
    let total = 0;
    for (let j = 0; j < inSize; j++) {
      const d = Math.abs(j + 0.5 - centre) / support;
      w[j] = d < 1 ? 1 - d : 0;
      total += w[j]!;
    }
    return w.map((v) => v / total);
  };
  const out = new Float64Array(outW * outH * img.channels);
  for (let oy = 0; oy < outH; oy++) {
    const wy = weights(img.height, outH, oy);
    for (let ox = 0; ox < outW; ox++) {
      const wx = weights(img.width, outW, ox);
      for (let k = 0; k < img.channels; k++) {
        let s = 0;
        for (let y = 0; y < img.height; y++) {
          if (wy[y] === 0) continue;
          for (let x = 0; x < img.width; x++) s += wy[y]! * wx[x]! * px(img, x, y, k);
        }
        out[(oy * outW + ox) * img.channels + k] = s;
      }
    }
  }
  return out;
}

/** Textbook bilinear interpolation (half-pixel centres, edge clamp): what upsampling must equal. */
function classicBilinear(img: Image, outW: number, outH: number): Float64Array {
  const out = new Float64Array(outW * outH * img.channels);
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  for (let oy = 0; oy < outH; oy++) {
    const sy = clamp((oy + 0.5) * (img.height / outH) - 0.5, img.height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const fy = sy - y0;
    for (let ox = 0; ox < outW; ox++) {
      const sx = clamp((ox + 0.5) * (img.width / outW) - 0.5, img.width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const fx = sx - x0;
      for (let k = 0; k < img.channels; k++) {
        const top = px(img, x0, y0, k) * (1 - fx) + px(img, x1, y0, k) * fx;
        const bot = px(img, x0, y1, k) * (1 - fx) + px(img, x1, y1, k) * fx;
        out[(oy * outW + ox) * img.channels + k] = top * (1 - fy) + bot * fy;
      }
    }
  }
  return out;
}

function maxAbsDiff(a: Uint8Array, b: Float64Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

describe("resizeBilinear", () => {
  it.each([
    [53, 37, 20, 13],
    [40, 40, 7, 9],
    [64, 30, 64, 11],
    [31, 29, 30, 28],
  ])(
    "downscaling %ix%i to %ix%i matches the float64 antialiased reference within rounding",
    (w, h, ow, oh) => {
      const img = randomImage(w, h, 3, w * h);
      const out = resizeBilinear(img, ow, oh);
      expect([out.width, out.height, out.channels]).toEqual([ow, oh, 3]);
      const { max, mean } = maxAbsDiff(out.data, referenceResize(img, ow, oh));
      // 8-bit intermediate rounding between the two passes may add one level.
      expect(max).toBeLessThanOrEqual(1.5);
      expect(mean).toBeLessThan(0.5);
    },
  );

  it("upscaling equals textbook bilinear interpolation", () => {
    const img = randomImage(9, 7, 1, 1);
    const out = resizeBilinear(img, 23, 17);
    const { max } = maxAbsDiff(out.data, classicBilinear(img, 23, 17));
    expect(max).toBeLessThanOrEqual(1);
  });

  it("reproduces a linear ramp exactly away from the borders", () => {
    // Ramp value = 2x; halving the width averages pairs: output x holds mean of 2·(2x) and 2·(2x+1) = 4x + 1.
    const w = 64;
    const img: Image = {
      data: Uint8Array.from({ length: w }, (_, x) => 2 * x),
      width: w,
      height: 1,
      channels: 1,
    };
    const out = resizeBilinear(img, 32, 1);
    for (let x = 1; x < 31; x++) expect(out.data[x]).toBe(4 * x + 1);
  });

  it("returns the same image for an identity resize", () => {
    const img = randomImage(5, 4, 3, 2);
    expect(resizeBilinear(img, 5, 4).data).toEqual(img.data);
  });

  it("resizing a box equals cropping first, then resizing (torchvision's resized_crop)", () => {
    const img = randomImage(50, 40, 3, 9);
    const box = { left: 7, top: 5, width: 30, height: 21 };
    const viaBox = resizeBilinear(img, 16, 16, box);
    const viaCrop = resizeBilinear(crop(img, 5, 7, 21, 30), 16, 16);
    expect(viaBox.data).toEqual(viaCrop.data);
  });

  it("rejects boxes outside the image", () => {
    const img = randomImage(10, 10, 1, 0);
    expect(() => resizeBilinear(img, 5, 5, { left: 6, top: 0, width: 5, height: 5 })).toThrow(RangeError);
  });
});

describe("crop and flip", () => {
  it("crop copies the window and zero-fills outside the image", () => {
    const img: Image = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 3, height: 2, channels: 1 };
    expect(Array.from(crop(img, 0, 1, 2, 2).data)).toEqual([2, 3, 5, 6]);
    expect(Array.from(crop(img, -1, -1, 3, 3).data)).toEqual([0, 0, 0, 0, 1, 2, 0, 4, 5]);
  });

  it("hflip mirrors each row and keeps channel order", () => {
    const img: Image = {
      data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
      width: 2,
      height: 2,
      channels: 3,
    };
    expect(Array.from(hflip(img).data)).toEqual([4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9]);
    expect(hflip(hflip(img)).data).toEqual(img.data);
  });
});
