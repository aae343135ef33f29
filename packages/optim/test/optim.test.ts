/** Optimizer steps and schedules against float64 references written from the papers / PyTorch docs. */
import { Device, type Tensor, keep, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdamW, SGD, lrAt, paramGroupsWeightDecay } from "../src/index.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

const P0 = [0.5, -1.25, 2.0, 0.01, -0.3];
const grads = [
  [0.1, -0.2, 0.3, 0.0, 1.5],
  [-0.4, 0.25, 0.1, 0.05, -2.0],
  [0.2, 0.2, -0.6, 0.3, 0.7],
];

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    n = Math.max(n, Math.abs(a[i]! - b[i]!));
    d = Math.max(d, Math.abs(b[i]!));
  }
  return n / d;
}

function setGrad(p: Tensor, g: number[]): void {
  p.grad?.dispose();
  p.grad = keep(tensor(dev, g, [g.length]));
}

function adamRef(lrs: number[], wd: number, clip: number, decoupled: boolean): number[] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const p = [...P0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g0, s) => {
    const norm = Math.sqrt(g0.reduce((a, x) => a + x * x, 0));
    const c = clip > 0 ? Math.min(1, clip / (norm + 1e-6)) : 1;
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      let g = g0[i]! * c;
      if (decoupled) p[i]! -= lrs[s]! * wd * p[i]!;
      else g += wd * p[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * g;
      v[i] = b2 * v[i]! + (1 - b2) * g * g;
      p[i]! -= (lrs[s]! * (m[i]! / (1 - b1 ** t))) / (Math.sqrt(v[i]! / (1 - b2 ** t)) + eps);
    }
  });
  return p;
}

function sgdRef(lr: number, mu: number, wd: number, nesterov: boolean): number[] {
  const p = [...P0];
  const buf = p.map(() => 0);
  grads.forEach((g0, s) => {
    for (let i = 0; i < p.length; i++) {
      let d = g0[i]! + wd * p[i]!;
      buf[i] = s === 0 ? d : mu * buf[i]! + d;
      d = nesterov ? d + mu * buf[i]! : buf[i]!;
      p[i]! -= lr * d;
    }
  });
  return p;
}

describe("AdamW", () => {
  for (const [decoupled, clip] of [
    [true, 0],
    [true, 0.5],
    [false, 0],
  ] as const) {
    it(`matches the float64 reference (decoupled=${decoupled}, clip=${clip})`, async () => {
      const p = tensor(dev, P0, [P0.length], { requiresGrad: true });
      const opt = new AdamW([{ params: [["w", p]], weightDecay: 0.3 }], { decoupled });
      const lrs = [3e-3, 2e-3, 1e-3];
      grads.forEach((g, s) => {
        setGrad(p, g);
        opt.step({ lr: lrs[s]!, maxGradNorm: clip });
      });
      expect(relErr(await p.data(), adamRef(lrs, 0.3, clip, decoupled))).toBeLessThan(1e-6);
      if (clip) {
        const n = Math.sqrt(grads[2]!.reduce((a, x) => a + x * x, 0));
        expect(await opt.lastGradNorm()).toBeCloseTo(n, 5);
      }
      opt.dispose();
      p.dispose();
    });
  }
});

describe("SGD", () => {
  for (const nesterov of [false, true]) {
    it(`momentum 0.9, nesterov=${nesterov}, weight decay 1e-2`, async () => {
      const p = tensor(dev, P0, [P0.length], { requiresGrad: true });
      const opt = new SGD([{ params: [["w", p]], weightDecay: 1e-2 }], { momentum: 0.9, nesterov });
      for (const g of grads) {
        setGrad(p, g);
        opt.step({ lr: 0.05 });
      }
      expect(relErr(await p.data(), sgdRef(0.05, 0.9, 1e-2, nesterov))).toBeLessThan(1e-6);
      opt.dispose();
      p.dispose();
    });
  }
});

describe("parameter groups", () => {
  it("no weight decay on biases, norms, pos_embed, cls_token", () => {
    const mk = (shape: number[]) => tensor(dev, new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    const named: Array<[string, Tensor]> = [
      ["cls_token", mk([1, 1, 4])],
      ["pos_embed", mk([1, 5, 4])],
      ["blocks.0.attn.qkv.weight", mk([12, 4])],
      ["blocks.0.attn.qkv.bias", mk([12])],
      ["blocks.0.norm1.weight", mk([4])],
      ["head.weight", mk([3, 4])],
    ];
    const [decay, none] = paramGroupsWeightDecay(named, 0.3);
    expect(decay!.params.map(([n]) => n)).toEqual(["blocks.0.attn.qkv.weight", "head.weight"]);
    expect(none!.weightDecay).toBe(0);
    expect(none!.params.map(([n]) => n)).toEqual([
      "cls_token",
      "pos_embed",
      "blocks.0.attn.qkv.bias",
      "blocks.0.norm1.weight",
    ]);
  });
});

describe("schedules", () => {
  it("cosine with linear warmup (NeMo CosineAnnealing keys)", () => {
    const s = { name: "CosineAnnealing" as const, warmup_steps: 10, min_lr: 1e-5, max_steps: 110 };
    expect(lrAt(0, 1e-3, s)).toBeCloseTo(1e-4, 12);
    expect(lrAt(9, 1e-3, s)).toBeCloseTo(1e-3, 12);
    expect(lrAt(10, 1e-3, s)).toBeCloseTo(1e-3, 12);
    expect(lrAt(60, 1e-3, s)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5), 12);
    expect(lrAt(110, 1e-3, s)).toBeCloseTo(1e-5, 12);
    expect(lrAt(35, 1e-3, s)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + Math.cos(Math.PI * 0.25)), 12);
  });
  it("step and constant", () => {
    expect(lrAt(25, 0.1, { name: "StepLR", step_size: 10, gamma: 0.5 })).toBeCloseTo(0.025, 12);
    expect(lrAt(1000, 0.1, { name: "Constant" })).toBe(0.1);
  });
});
