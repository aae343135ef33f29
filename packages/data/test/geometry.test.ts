import { describe, expect, it } from "vitest";
import type { Image } from "../src/image.js";
import { Rng } from "../src/rng.js";
import {
  centerCropBox,
  centerCropImage,
  pyRound,
  randomResizedCropParams,
  resizeImage,
  resizeOutputSize,
} from "../src/transforms/geometry.js";
import { compilePipeline } from "../src/transforms/pipeline.js";
import { crop, resizeBilinear } from "../src/transforms/resample.js";
import { centerCrop, randomResizedCrop, resize, resizeCenterCrop } from "../src/transforms/spec.js";

/** An rng that replays scripted values, to drive RandomResizedCrop down a chosen path. */
function scripted(uniforms: number[], ints: number[]) {
  return {
    uniform: (lo: number, hi: number) => {
      const v = uniforms.shift();
      if (v === undefined) throw new Error("script exhausted (uniform)");
      expect(v).toBeGreaterThanOrEqual(lo);
      expect(v).toBeLessThanOrEqual(hi);
      return v;
    },
    int: (n: number) => {
      const v = ints.shift();
      if (v === undefined) throw new Error("script exhausted (int)");
      expect(v).toBeLessThan(n);
      return v;
    },
  };
}

describe("pyRound", () => {
  it("rounds halves to even like Python", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(pyRound)).toEqual([0, 2, 2, 0, -2, 2, 3]);
  });
});

describe("randomResizedCropParams (torchvision get_params)", () => {
  it("takes the first fitting box: area fraction 0.5, ratio 1 on 100x200 → 100x100", () => {
    // target area 0.5·20000 = 10000, aspect e^0 = 1 → w = h = 100; top from int(1), left from int(101).
    const p = randomResizedCropParams(scripted([0.5, 0], [0, 37]), 100, 200);
    expect(p).toEqual({ top: 0, left: 37, height: 100, width: 100 });
  });

  it("rounds half to even when sizing the box", () => {
    // 100x100, fraction 0.015625 → area 156.25, side sqrt = 12.5 → 12 (Python round).
    const p = randomResizedCropParams(scripted([0.015625, 0], [3, 4]), 100, 100, [0.01, 1]);
    expect(p).toEqual({ top: 3, left: 4, height: 12, width: 12 });
  });

  it("falls back to a ratio-clamped centre crop after ten failed tries (tall image)", () => {
    // 100 high x 20 wide, full area at ratio 4/3 gives w = round(sqrt(2000·4/3)) = 52 > 20: never fits.
    const log43 = Math.log(4 / 3);
    const p = randomResizedCropParams(scripted(Array(10).fill([1, log43]).flat(), []), 100, 20);
    // in_ratio 0.2 < 3/4 → w = 20, h = round(20 / 0.75) = 27, top = (100 − 27) // 2 = 36.
    expect(p).toEqual({ top: 36, left: 0, height: 27, width: 20 });
  });

  it("falls back on wide images too", () => {
    const log34 = Math.log(3 / 4);
    const p = randomResizedCropParams(scripted(Array(10).fill([1, log34]).flat(), []), 20, 100);
    // h = 20, w = round(20 · 4/3) = 27, left = (100 − 27) // 2 = 36.
    expect(p).toEqual({ top: 0, left: 36, height: 20, width: 27 });
  });

  it("with a real generator always returns boxes inside the image within the scale/ratio bounds", () => {
    const rng = new Rng(1);
    for (let i = 0; i < 3000; i++) {
      const H = 50 + rng.int(400);
      const W = 50 + rng.int(400);
      const b = randomResizedCropParams(rng, H, W);
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect(b.top + b.height).toBeLessThanOrEqual(H);
      expect(b.left + b.width).toBeLessThanOrEqual(W);
      const frac = (b.height * b.width) / (H * W);
      // Rounding each side to an integer can push the fraction slightly past the bounds.
      expect(frac).toBeGreaterThan(0.08 * 0.8);
      expect(frac).toBeLessThanOrEqual(1);
      const ratio = b.width / b.height;
      expect(ratio).toBeGreaterThan((3 / 4) * 0.85);
      expect(ratio).toBeLessThan(4 / 3 / 0.85);
    }
  });
});

describe("Resize / CenterCrop geometry", () => {
  it("resize(int) sets the shorter side and truncates the longer one", () => {
    expect(resizeOutputSize(300, 400, 256)).toEqual([256, 341]);
    expect(resizeOutputSize(500, 375, 256)).toEqual([341, 256]);
    expect(resizeOutputSize(100, 100, 32)).toEqual([32, 32]);
    expect(resizeOutputSize(300, 400, [10, 20])).toEqual([10, 20]);
  });

  it("centre crop offsets use Python rounding, and pad symmetrically when the crop is larger", () => {
    expect(centerCropBox(256, 341, 224, 224)).toEqual({ top: 16, left: 58, height: 224, width: 224 }); // 58.5 → 58
    expect(centerCropBox(10, 10, 13, 12)).toEqual({ top: -1, left: -1, height: 13, width: 12 });
  });

  it("centre crop with padding places the image at (1, 1) surrounded by zeros", () => {
    const img: Image = {
      data: Uint8Array.from({ length: 100 }, (_, i) => i + 1),
      width: 10,
      height: 10,
      channels: 1,
    };
    const out = centerCropImage(img, [13, 12]);
    expect([out.height, out.width]).toEqual([13, 12]);
    expect(out.data[0]).toBe(0);
    expect(out.data[1 * 12 + 1]).toBe(1);
    expect(out.data[10 * 12 + 10]).toBe(100);
    expect(out.data[12 * 12 + 11]).toBe(0);
  });

  it("resizeCenterCrop(224) is resize(256) then centerCrop(224) (crop fraction 0.875)", async () => {
    expect(resizeCenterCrop(224)).toEqual([resize(256), centerCrop(224)]);
    expect(resizeCenterCrop(224, { cropFraction: 0.9 })).toEqual([resize(248), centerCrop(224)]);
    const r = new Rng(4);
    const img: Image = {
      data: Uint8Array.from({ length: 300 * 400 * 3 }, () => r.int(256)),
      width: 400,
      height: 300,
      channels: 3,
    };
    const pipe = await compilePipeline(resizeCenterCrop(224));
    let out = img;
    for (const s of pipe.steps) out = await s.run(out, { rng: r, index: 0, epoch: 0 });
    const expected = crop(resizeBilinear(img, 341, 256), 16, 58, 224, 224);
    expect([out.width, out.height]).toEqual([224, 224]);
    expect(out.data).toEqual(expected.data);
    expect(resizeImage(img, 256).width).toBe(341);
  });

  it("randomResizedCrop produces the requested size and validates its options", async () => {
    const pipe = await compilePipeline([randomResizedCrop([20, 30])]);
    const img: Image = { data: new Uint8Array(50 * 60 * 3), width: 60, height: 50, channels: 3 };
    const out = await pipe.steps[0]!.run(img, { rng: new Rng(1), index: 0, epoch: 0 });
    expect([out.height, out.width]).toEqual([20, 30]);
    expect(() => randomResizedCrop(224, { scale: [0.5, 0.1] })).toThrow(/scale/);
  });
});
