import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { check, inputs, useDevice } from "./helpers.js";
import { type Arr, arr, crossEntropyRef, matmul, relErr, softmaxRef } from "./ref.js";

const ctx = useDevice();

describe("dropout", () => {
  it("mask follows Philox(seed, offset, i) exactly, scales kept values, and backward reuses it", async () => {
    const dev = ctx.dev;
    const n = 1003;
    const xv = Float32Array.from({ length: n }, (_, i) => 1 + (i % 7));
    const x = T.tensor(dev, xv, [n], { requiresGrad: true });
    const p = 0.3;
    const offset = dev.rng.offset;
    const y = T.dropout(x, p);
    T.sum(y).backward();
    const got = await y.data();
    const grad = await x.grad!.data();
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const keep = T.philoxUniform(dev.rng.seed, offset, i) >= p;
      if (!keep) dropped++;
      expect(got[i]).toBeCloseTo(keep ? xv[i]! / (1 - p) : 0, 5);
      expect(grad[i]).toBeCloseTo(keep ? 1 / (1 - p) : 0, 5);
    }
    expect(dropped / n).toBeGreaterThan(0.25);
    expect(dropped / n).toBeLessThan(0.35);
  });
  it("is the identity in eval mode", async () => {
    const x = T.tensor(ctx.dev, [1, 2, 3], [3]);
    expect(T.dropout(x, 0.5, false)).toBe(x);
  });
});

describe("creation", () => {
  it("randn/rand match the CPU Philox and have the right moments", async () => {
    const dev = ctx.dev;
    const off = dev.rng.offset;
    const t = T.randn(dev, [4096], 0.5, 2);
    const v = Array.from(await t.data());
    for (let i = 0; i < 16; i++) expect(v[i]).toBeCloseTo(0.5 + 2 * T.philoxNormal(dev.rng.seed, off, i), 4);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.1);
    expect(Math.abs(sd - 2)).toBeLessThan(0.1);
    const u = Array.from(await T.rand(dev, [1000], -1, 3).data());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(3);
    expect(Array.from(await T.full(dev, [3], 2.5).data())).toEqual([2.5, 2.5, 2.5]);
    // Truncated normal: inside the bounds, and its variance is that of N(0,1) cut at ±2 (0.7737).
    const tn = Array.from(await T.truncNormal(dev, [20000], 0, 1).data());
    expect(Math.min(...tn)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...tn)).toBeLessThanOrEqual(2);
    const tm = tn.reduce((a, b) => a + b, 0) / tn.length;
    const tv = tn.reduce((a, b) => a + (b - tm) ** 2, 0) / tn.length;
    expect(Math.abs(tm)).toBeLessThan(0.03);
    expect(Math.abs(tv - 0.7737)).toBeLessThan(0.03);
  });
});

describe("cross entropy", () => {
  for (const eps of [0, 0.1]) {
    it(`labels, label smoothing ${eps}`, async () => {
      const labels = [3, 0, 16];
      const lt = T.tensor(ctx.dev, Int32Array.from(labels), [3]);
      await check(
        ctx.dev,
        ([z]) => T.crossEntropy(z!, lt, { labelSmoothing: eps }),
        ([z]) => arr([], [crossEntropyRef(z!, labels, eps)]),
        inputs([[3, 17]], 12, -3, 3),
      );
    });
  }
  it("soft targets (mixup)", async () => {
    const tgt = arr([2, 5], [0.7, 0.3, 0, 0, 0, 0, 0, 0.4, 0.6, 0]);
    const tt = T.tensor(ctx.dev, Float32Array.from(tgt.data), [2, 5]);
    await check(ctx.dev, ([z]) => T.crossEntropy(z!, tt, { labelSmoothing: 0.1 }), ([z]) => arr([], [crossEntropyRef(z!, tgt, 0.1)]), inputs([[2, 5]], 13, -2, 2));
  });
  it("rejects labels of the wrong shape", () => {
    const z = T.zeros(ctx.dev, [4, 10]);
    expect(() => T.crossEntropy(z, T.zeros(ctx.dev, [3], { dtype: "i32" }))).toThrow(/target \[3\] i32 does not fit logits \[4, 10\]/);
  });
});

describe("attention (naive)", () => {
  it("matches softmax(QKᵀ/√d)V in float64, with gradients", async () => {
    const ref = ([q, k, v]: Arr[]) => {
      const s = matmul(q!, k!, false, true);
      const d = q!.shape[3]!;
      s.data = s.data.map((x) => x / Math.sqrt(d));
      return matmul(softmaxRef(s), v!);
    };
    await check(ctx.dev, ([q, k, v]) => T.attentionNaive(q!, k!, v!, { training: false }), ref, inputs([[1, 2, 5, 4], [1, 2, 7, 4], [1, 2, 7, 4]], 14));
  });
});

describe("checkpoint", () => {
  it("recomputes with identical dropout masks: gradients equal the plain run", async () => {
    const dev = ctx.dev;
    const w = T.tensor(dev, Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), [8, 8], { requiresGrad: true });
    const xv = Float32Array.from({ length: 40 }, (_, i) => Math.cos(i));
    const block = (x: T.Tensor) => T.gelu(T.dropout(T.matmul(x, w), 0.25));
    const run = async (ckpt: boolean) => {
      const x = T.tensor(dev, xv, [5, 8], { requiresGrad: true });
      dev.rng.offset = 777;
      const loss = T.scope(() => {
        const y = ckpt ? T.checkpoint(block, x) : block(x);
        const l = T.sum(T.mul(y, y));
        l.backward();
        return l;
      });
      const out = { loss: (await loss.data())[0]!, gw: await w.grad!.data(), gx: await x.grad!.data() };
      w.grad!.dispose();
      w.grad = null;
      x.dispose();
      loss.dispose();
      return out;
    };
    const plain = await run(false);
    const ck = await run(true);
    expect(ck.loss).toBe(plain.loss);
    expect(relErr(ck.gw, plain.gw)).toBe(0);
    expect(relErr(ck.gx, plain.gx)).toBe(0);
  });
});
