/**
 * The dynamic loss scaler (NeMo precision 16): the GPU state machine against the host reference
 * (nextScalerState, written from NeMo's GradScaler._maybe_update_scale), and the scaled steps against an
 * unscaled optimizer that only takes the good steps (PyTorch's skip semantics, bias correction included).
 */
import { Device, type Tensor, keep, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdamW, LossScaler, type LossScalerState, SGD, nextScalerState } from "../src/index.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

const P0 = [0.5, -1.25, 2.0, 0.01, -0.3];
const grad = (k: number) => P0.map((_, i) => Math.sin(k * 7 + i) * 0.5);

function setGrad(p: Tensor, g: number[]): void {
  p.grad?.dispose();
  p.grad = keep(tensor(dev, g, [g.length]));
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    n = Math.max(n, Math.abs(a[i]! - b[i]!));
    d = Math.max(d, Math.abs(b[i]!));
  }
  return n / d;
}

describe("LossScaler", () => {
  for (const kind of ["adamw", "sgd"] as const) {
    it(`${kind}: state follows the reference; overflowing steps are skipped, good ones equal the unscaled step`, async () => {
      const opts = { initScale: 16, growthInterval: 3, hysteresis: 2, minScale: 1 };
      const make = (p: Tensor) =>
        kind === "adamw"
          ? new AdamW([{ params: [["p", p]], weightDecay: 0.1 }])
          : new SGD([{ params: [["p", p]], weightDecay: 0.1 }], { momentum: 0.9 });
      const pa = keep(tensor(dev, P0, [5], { requiresGrad: true }));
      const pb = keep(tensor(dev, P0, [5], { requiresGrad: true }));
      const a = make(pa);
      const b = make(pb);
      const scaler = new LossScaler(dev, opts);
      a.lossScaler = scaler;
      // Overflow pattern covering: hysteresis absorbing one, two in a row halving, growth after 3 good,
      // overflow on the very first step, and the min-scale floor (16 → … never below 1).
      const bad = [
        true,
        false,
        true,
        false,
        false,
        false,
        true,
        true,
        true,
        true,
        true,
        true,
        true,
        false,
        false,
        false,
      ];
      let ref: LossScalerState = {
        scale: 16,
        growthTracker: 0,
        hysteresisTracker: 2,
        goodSteps: 0,
        skippedSteps: 0,
      };
      for (let k = 0; k < bad.length; k++) {
        const g = grad(k);
        const scaled = g.map((x) => x * ref.scale);
        if (bad[k]) scaled[k % 5] = k % 2 ? Number.POSITIVE_INFINITY : Number.NaN;
        setGrad(pa, scaled);
        a.step({ lr: 0.05, maxGradNorm: k % 3 === 0 ? 0.5 : 0 });
        if (!bad[k]) {
          setGrad(pb, g);
          b.step({ lr: 0.05, maxGradNorm: k % 3 === 0 ? 0.5 : 0 });
        }
        ref = nextScalerState(ref, bad[k]!, { ...opts });
        expect(await scaler.read()).toEqual(ref);
        expect(relErr(await pa.data(), await pb.data())).toBeLessThan(1e-5);
      }
      // The pattern exercised every branch.
      expect(ref.skippedSteps).toBe(bad.filter(Boolean).length);
      expect(ref.scale).toBe(2);
      a.dispose();
      b.dispose();
      scaler.dispose();
    });
  }

  it("reference: NeMo's rule (hysteresis, backoff, growth, no growth to Inf)", () => {
    const o = { initScale: 2 ** 32, growthInterval: 2, hysteresis: 2, minScale: 1 };
    let s: LossScalerState = {
      scale: 2 ** 32,
      growthTracker: 1,
      hysteresisTracker: 2,
      goodSteps: 0,
      skippedSteps: 0,
    };
    s = nextScalerState(s, true, o); // hysteresis absorbs it, growth tracker resets
    expect([s.scale, s.growthTracker, s.hysteresisTracker]).toEqual([2 ** 32, 0, 1]);
    s = nextScalerState(s, true, o); // exhausted: halve
    expect([s.scale, s.hysteresisTracker]).toEqual([2 ** 31, 0]);
    s = nextScalerState(s, true, o); // still exhausted (NeMo resets it only on a good step): halve again
    expect(s.scale).toBe(2 ** 30);
    s = nextScalerState(s, false, o);
    expect([s.growthTracker, s.hysteresisTracker]).toEqual([1, 2]);
    s = nextScalerState(s, false, o);
    expect([s.scale, s.growthTracker]).toEqual([2 ** 31, 0]);
    const big = nextScalerState({ ...s, scale: 2 ** 127, growthTracker: 1 }, false, o);
    expect(big.scale).toBe(2 ** 127);
  });
});
