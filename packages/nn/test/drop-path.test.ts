/**
 * Stochastic depth (DropPath) and attention heads of width kv_channels, against float64 host references:
 * the drop-path mask is recomputed on the host from the same Philox stream (seed, offset, sample), so
 * the reference does not read the GPU's mask back.
 */
import { Device, type Tensor, checkpoint, mul, philoxUniform, scope, sum, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DropPath, MultiHeadAttention, TransformerLayer } from "../src/index.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create({ seed: 11 });
});
afterAll(() => dev?.destroy());

function hostRandom(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    n = Math.max(n, Math.abs(a[i]! - b[i]!));
    d = Math.max(d, Math.abs(b[i]!));
  }
  return n / d;
}

const data = async (t: Tensor) => Float64Array.from((await t.data()) as Float32Array);

describe("DropPath", () => {
  const B = 2000;
  const per = 6; // each sample is [2, 3]
  const p = 0.3;
  const xs = hostRandom(B * per, 3);
  const ws = hostRandom(B * per, 4);

  it("drops whole samples with probability p, scales kept ones by 1/(1−p); gradient matches float64", async () => {
    const dp = new DropPath(p);
    const x = tensor(dev, Float32Array.from(xs), [B, 2, 3], { requiresGrad: true });
    const w = tensor(dev, Float32Array.from(ws), [B, 2, 3]);
    const { seed } = dev.rng;
    const offset = dev.rng.offset;
    const y = scope(() => {
      const out = dp.forward(x);
      sum(mul(out, w)).backward();
      return out;
    });
    expect(dev.rng.offset).toBe(offset + 1); // one draw per call, for the whole batch
    // Host reference: sample b is kept when its Philox uniform ≥ p (the dropout kernel's rule).
    const keep = Array.from({ length: B }, (_, b) => philoxUniform(seed, offset, b) >= p);
    const yRef = new Float64Array(B * per);
    const gRef = new Float64Array(B * per);
    for (let b = 0; b < B; b++) {
      const m = keep[b] ? 1 / (1 - p) : 0;
      for (let j = 0; j < per; j++) {
        yRef[b * per + j] = xs[b * per + j]! * m;
        gRef[b * per + j] = ws[b * per + j]! * m; // d/dx Σ w·x·m
      }
    }
    expect(maxRelErr(await data(y), yRef)).toBeLessThan(1e-6);
    expect(maxRelErr(await data(x.grad!), gRef)).toBeLessThan(1e-6);
    // Per-sample statistics: the dropped fraction is p within 4σ of a binomial.
    const dropped = keep.filter((k) => !k).length / B;
    expect(Math.abs(dropped - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / B));
    // Every sample is all-kept or all-zero.
    const yh = await data(y);
    for (let b = 0; b < B; b++) {
      const zeros = Array.from(yh.subarray(b * per, (b + 1) * per)).filter((v) => v === 0).length;
      expect(zeros === 0 || zeros === per).toBe(true);
    }
  });

  it("is the identity in eval mode and at p = 0, drawing nothing", () => {
    const x = tensor(dev, Float32Array.from(xs.subarray(0, 12)), [2, 2, 3]);
    const dp = new DropPath(0.5);
    dp.eval();
    const offset = dev.rng.offset;
    expect(dp.forward(x)).toBe(x);
    expect(new DropPath(0).forward(x)).toBe(x);
    expect(dev.rng.offset).toBe(offset);
    expect(() => new DropPath(1)).toThrow(/must be in \[0, 1\)/);
  });

  it("activation checkpointing replays the same masks", async () => {
    const dp = new DropPath(0.5);
    const run = async (ck: boolean) => {
      dev.rng.offset = 77;
      const x = tensor(dev, Float32Array.from(xs.subarray(0, 60)), [10, 2, 3], { requiresGrad: true });
      const w = tensor(dev, Float32Array.from(ws.subarray(0, 60)), [10, 2, 3]);
      scope(() => sum(mul(ck ? checkpoint((h) => dp.forward(h), x) : dp.forward(x), w)).backward());
      return data(x.grad!);
    };
    expect(Array.from(await run(true))).toEqual(Array.from(await run(false)));
  });

  it("a TransformerLayer draws one drop-path mask per branch in training and equals the plain layer in eval", async () => {
    const layer = new TransformerLayer(dev, { dim: 8, heads: 2, ffn: 16, dropPath: 0.5 });
    const x = tensor(dev, Float32Array.from(xs.subarray(0, 4 * 3 * 8)), [4, 3, 8]);
    layer.eval();
    const evalOut = await data(layer.forward(x));
    const plain = new TransformerLayer(dev, { dim: 8, heads: 2, ffn: 16 });
    plain.loadStateDict(await layer.stateDictHost());
    plain.eval();
    expect(Array.from(evalOut)).toEqual(Array.from(await data(plain.forward(x))));
    // Training: two draws per layer (attention branch, MLP branch), as Megatron's two DropPath calls.
    layer.train();
    const offset = dev.rng.offset;
    scope(() => layer.forward(x));
    expect(dev.rng.offset).toBe(offset + 2);
  });
});

describe("MultiHeadAttention with headDim (kv_channels) ≠ dim / heads", () => {
  it("projects to heads × headDim and back; forward matches a float64 reference", async () => {
    const [B, S, D, H, hd] = [2, 5, 8, 2, 6];
    const attn = new MultiHeadAttention(dev, D, H, { headDim: hd });
    expect(attn.qkv.weight.shape).toEqual([3 * H * hd, D]);
    expect(attn.proj.weight.shape).toEqual([D, H * hd]);
    const xs = hostRandom(B * S * D, 9);
    const y = await data(attn.forward(tensor(dev, Float32Array.from(xs), [B, S, D])));
    const Wqkv = await data(attn.qkv.weight);
    const bqkv = await data(attn.qkv.bias!);
    const Wo = await data(attn.proj.weight);
    const bo = await data(attn.proj.bias!);
    const P = H * hd;
    const ref = new Float64Array(B * S * D);
    for (let b = 0; b < B; b++) {
      // qkv[s][r] = x[s]·W[r] + b[r]; rows are q | k | v, each heads × hd (timm's layout).
      const qkv = Array.from({ length: S }, (_, s) =>
        Array.from({ length: 3 * P }, (_, r) => {
          let acc = bqkv[r]!;
          for (let i = 0; i < D; i++) acc += xs[(b * S + s) * D + i]! * Wqkv[r * D + i]!;
          return acc;
        }),
      );
      const merged = Array.from({ length: S }, () => new Float64Array(P));
      for (let h = 0; h < H; h++) {
        for (let s = 0; s < S; s++) {
          const q = (t: number, d: number) => qkv[t]![h * hd + d]!;
          const k = (t: number, d: number) => qkv[t]![P + h * hd + d]!;
          const v = (t: number, d: number) => qkv[t]![2 * P + h * hd + d]!;
          const scores = Array.from({ length: S }, (_, t) => {
            let acc = 0;
            for (let d = 0; d < hd; d++) acc += q(s, d) * k(t, d);
            return acc / Math.sqrt(hd);
          });
          const m = Math.max(...scores);
          const e = scores.map((z) => Math.exp(z - m));
          const z = e.reduce((a, c) => a + c, 0);
          for (let d = 0; d < hd; d++) {
            let acc = 0;
            for (let t = 0; t < S; t++) acc += (e[t]! / z) * v(t, d);
            merged[s]![h * hd + d] = acc;
          }
        }
      }
      for (let s = 0; s < S; s++) {
        for (let o = 0; o < D; o++) {
          let acc = bo[o]!;
          for (let i = 0; i < P; i++) acc += merged[s]![i]! * Wo[o * P + i]!;
          ref[(b * S + s) * D + o] = acc;
        }
      }
    }
    expect(maxRelErr(y, ref)).toBeLessThan(1e-5);
  });
});
