import { describe, expect, it } from "vitest";
import { Rng } from "../src/rng.js";
import { mixBatch, softTargets, validateMixup } from "../src/transforms/mixup.js";

function batch(B: number, C: number, H: number, W: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: B * C * H * W }, () => r.next());
}

describe("label smoothing", () => {
  it("gives on = 1 − ε + ε/K and off = ε/K", () => {
    const t = softTargets(Int32Array.from([3, 0]), 10, 0.1, 1);
    expect(t[3]).toBeCloseTo(0.91, 6);
    expect(t[0]).toBeCloseTo(0.01, 6);
    expect(t[10]).toBeCloseTo(0.91, 6);
    for (let i = 0; i < 2; i++)
      expect(t.subarray(i * 10, i * 10 + 10).reduce((a, b) => a + b)).toBeCloseTo(1, 6);
  });
});

describe("mixup / cutmix", () => {
  it("mixup blends sample i with sample B−1−i by λ and mixes targets the same way", () => {
    const shape = [4, 3, 5, 6] as const;
    const x = batch(...shape, 1);
    const orig = x.slice();
    const info = mixBatch(x, shape, validateMixup({ mixupAlpha: 0.8, cutmixAlpha: 0 }), new Rng(4));
    expect(info.mode).toBe("mixup");
    const lam = info.lam;
    expect(lam).toBeGreaterThan(0);
    expect(lam).toBeLessThan(1);
    const per = 3 * 5 * 6;
    for (let i = 0; i < 4; i++) {
      for (let k = 0; k < per; k += 17) {
        expect(x[i * per + k]).toBeCloseTo(
          lam * orig[i * per + k]! + (1 - lam) * orig[(3 - i) * per + k]!,
          5,
        );
      }
    }
    const t = softTargets(Int32Array.from([0, 1, 2, 3]), 4, 0, lam);
    expect(t[0]).toBeCloseTo(lam, 6); // sample 0: own class 0
    expect(t[3]).toBeCloseTo(1 - lam, 6); // partner (sample 3) class 3
  });

  it("cutmix pastes a box from the reversed batch and sets λ to the kept area", () => {
    const shape = [2, 1, 16, 16] as const;
    const x = batch(...shape, 2);
    const orig = x.slice();
    let info = mixBatch(x, shape, validateMixup({ mixupAlpha: 0, cutmixAlpha: 1 }), new Rng(1));
    for (let s = 2; info.box && (info.box[1] - info.box[0]) * (info.box[3] - info.box[2]) === 0; s++) {
      x.set(orig);
      info = mixBatch(x, shape, validateMixup({ mixupAlpha: 0, cutmixAlpha: 1 }), new Rng(s));
    }
    expect(info.mode).toBe("cutmix");
    const [y0, y1, x0, x1] = info.box!;
    expect(info.lam).toBeCloseTo(1 - ((y1 - y0) * (x1 - x0)) / 256, 10);
    for (let y = 0; y < 16; y++) {
      for (let xx = 0; xx < 16; xx++) {
        const inside = y >= y0 && y < y1 && xx >= x0 && xx < x1;
        expect(x[y * 16 + xx]).toBe(inside ? orig[256 + y * 16 + xx] : orig[y * 16 + xx]);
      }
    }
  });

  it("prob 0 leaves the batch alone; both alphas 0 is rejected", () => {
    const shape = [2, 1, 2, 2] as const;
    const x = batch(...shape, 3);
    const orig = x.slice();
    expect(mixBatch(x, shape, validateMixup({ prob: 0 }), new Rng(1))).toEqual({ lam: 1, mode: "none" });
    expect(x).toEqual(orig);
    expect(() => validateMixup({ mixupAlpha: 0, cutmixAlpha: 0 })).toThrow(/alpha/);
  });

  it("switchProb picks cutmix about that often when both are enabled", () => {
    let cut = 0;
    const opts = validateMixup({ mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.3 });
    for (let s = 0; s < 2000; s++)
      if (mixBatch(new Float32Array(4), [1, 1, 2, 2], opts, new Rng(s)).mode === "cutmix") cut++;
    expect(cut / 2000).toBeGreaterThan(0.25);
    expect(cut / 2000).toBeLessThan(0.35);
  });
});
