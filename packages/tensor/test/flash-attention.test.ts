/**
 * Flash attention against (1) a float64 reference with central finite differences, (2) the naive
 * attention (matmul/softmax/dropout) in f32 — which draws the same dropout mask — over the sequence
 * lengths and head dims a ViT uses, and (3) memory: its peak at S = 1024 is O(S), the naive one O(S²).
 */
import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { type FlashTuning, flashAttentionWith } from "../src/ops/flash-attention.js";
import { check, inputs, useDevice } from "./helpers.js";
import { type Arr, arr, randArr, relErr } from "./ref.js";

const ctx = useDevice();

interface Drop {
  p: number;
  seed: number;
  offset: number;
}

/** Float64 softmax(q kᵀ · scale) ⊙ mask · v with the mask element (bh, i, j) = Philox at (bh·Sq + i)·Sk + j. */
function attentionRef(q: Arr, k: Arr, v: Arr, scale: number, drop?: Drop): Arr {
  const [B, H, Sq, D] = q.shape as [number, number, number, number];
  const Sk = k.shape[2]!;
  const out = arr([B, H, Sq, D]);
  const s = new Float64Array(Sk);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < Sq; i++) {
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < Sk; j++) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += q.data[(bh * Sq + i) * D + d]! * k.data[(bh * Sk + j) * D + d]!;
        s[j] = acc * scale;
        m = Math.max(m, s[j]!);
      }
      let sum = 0;
      for (let j = 0; j < Sk; j++) {
        s[j] = Math.exp(s[j]! - m);
        sum += s[j]!;
      }
      for (let j = 0; j < Sk; j++) {
        let w = s[j]! / sum;
        if (drop)
          w *=
            T.philoxUniform(drop.seed, drop.offset, (bh * Sq + i) * Sk + j) >= drop.p ? 1 / (1 - drop.p) : 0;
        for (let d = 0; d < D; d++) out.data[(bh * Sq + i) * D + d]! += w * v.data[(bh * Sk + j) * D + d]!;
      }
    }
  }
  return out;
}

function rand(
  dev: T.Device,
  shape: number[],
  seed: number,
  requiresGrad = true,
  dtype: T.DType = "f32",
): T.Tensor {
  return T.tensor(dev, Float32Array.from(randArr(shape, seed, -2, 2).data), shape, { requiresGrad, dtype });
}

/**
 * Forward and dq, dk, dv of Σ attn(q, k, v)·R for both paths from the same RNG offset (so dropout
 * masks coincide); returns the relative error of each flash figure against the naive one.
 */
async function againstNaive(
  dev: T.Device,
  qShape: number[],
  kvShape: number[],
  opts: T.AttentionOptions,
  tuning?: FlashTuning,
): Promise<number[]> {
  const q = rand(dev, qShape, 1);
  const k = rand(dev, kvShape, 2);
  const v = rand(dev, kvShape, 3);
  const R = rand(dev, qShape, 4, false);
  const offset = dev.rng.offset;
  const run = async (flash: boolean): Promise<Float32Array[]> => {
    dev.rng.offset = offset;
    const o = T.scope(() => {
      const o = flash ? flashAttentionWith(q, k, v, opts, tuning) : T.attentionNaive(q, k, v, opts);
      T.sum(T.mul(o, R)).backward();
      return o;
    });
    const got = [
      await o.data(),
      ...(await Promise.all([q, k, v].map((t) => t.grad!.data()))),
    ] as Float32Array[];
    for (const t of [q, k, v]) {
      t.grad!.dispose();
      t.grad = null;
    }
    o.dispose();
    return got;
  };
  const naive = await run(false);
  const flash = await run(true);
  for (const t of [q, k, v, R]) t.dispose();
  return flash.map((f, i) => relErr(f, naive[i]!));
}

describe("flashAttention: float64 reference and finite differences", () => {
  it("forward and dq, dk, dv (Sq ≠ Sk, non-default scale)", async () => {
    await check(
      ctx.dev,
      ([q, k, v]) => T.flashAttention(q!, k!, v!, { scale: 0.37 }),
      ([q, k, v]) => attentionRef(q!, k!, v!, 0.37),
      inputs(
        [
          [1, 2, 5, 8],
          [1, 2, 7, 8],
          [1, 2, 7, 8],
        ],
        61,
      ),
    );
  });

  it("with dropout: the mask is Philox(seed, offset, (bh·Sq + i)·Sk + j), replayed in backward", async () => {
    const dev = ctx.dev;
    const drop = { p: 0.3, seed: dev.rng.seed, offset: dev.rng.offset };
    await check(
      dev,
      ([q, k, v]) => T.flashAttention(q!, k!, v!, { dropout: 0.3, scale: 0.5 }),
      ([q, k, v]) => attentionRef(q!, k!, v!, 0.5, drop),
      inputs(
        [
          [2, 1, 9, 12],
          [2, 1, 11, 12],
          [2, 1, 11, 12],
        ],
        62,
      ),
    );
    expect(dev.rng.offset).toBe(drop.offset + 1);
  });

  it("head dim not a multiple of 4 (the portable kernel), with dropout", async () => {
    const dev = ctx.dev;
    const drop = { p: 0.2, seed: dev.rng.seed, offset: dev.rng.offset };
    await check(
      dev,
      ([q, k, v]) => T.flashAttention(q!, k!, v!, { dropout: 0.2 }),
      ([q, k, v]) => attentionRef(q!, k!, v!, 1 / Math.sqrt(5), drop),
      inputs(
        [
          [1, 2, 10, 5],
          [1, 2, 10, 5],
          [1, 2, 10, 5],
        ],
        63,
      ),
    );
  });

  it("batch·heads beyond one dispatch dimension (70,000 > 65,535)", async () => {
    const dev = ctx.dev;
    const [q, k, v] = inputs(
      [
        [70000, 1, 2, 4],
        [70000, 1, 3, 4],
        [70000, 1, 3, 4],
      ],
      64,
    );
    const ts = [q!, k!, v!].map((a) =>
      T.tensor(dev, Float32Array.from(a.data), a.shape, { requiresGrad: true }),
    );
    const o = T.flashAttention(ts[0]!, ts[1]!, ts[2]!);
    T.sum(o).backward();
    expect(relErr(await o.data(), attentionRef(q!, k!, v!, 0.5).data)).toBeLessThan(1e-5);
    // Σ o = Σ_i Σ_j P_ij Σ_d v_jd, so dv_jd = Σ_i P_ij: per (bh, d), Σ_j dv_jd = Sq exactly.
    const dv = await ts[2]!.grad!.data();
    for (const bh of [0, 65535, 69999]) {
      const col = dv[bh * 12]! + dv[bh * 12 + 4]! + dv[bh * 12 + 8]!;
      expect(col).toBeCloseTo(2, 5);
    }
    for (const t of [...ts, o]) t.dispose();
  });
});

describe("flashAttention equals attentionNaive in f32", () => {
  // [batch, heads, seq, head_dim]: ViT sequence lengths (197 = 196 + CLS, 204 = NeMo's 8 class tokens,
  // 264, 1025) with small batch/heads for the long ones, head dims 32/64/80/128, and ragged tails.
  const cases: Array<[number, number, number, number]> = [
    [2, 2, 1, 32],
    [2, 3, 17, 64],
    [1, 2, 197, 32],
    [1, 2, 197, 80],
    [1, 1, 204, 64],
    [1, 1, 264, 128],
    [1, 1, 1025, 64],
  ];
  for (const [B, H, S, D] of cases) {
    it(`[${B}, ${H}, ${S}, ${D}], without and with dropout`, async () => {
      for (const dropout of [0, 0.1]) {
        const errs = await againstNaive(ctx.dev, [B, H, S, D], [B, H, S, D], { dropout, scale: 0.2 });
        errs.forEach((e, i) =>
          expect(e, `${["out", "dq", "dk", "dv"][i]} dropout ${dropout}`).toBeLessThan(1e-5),
        );
      }
    });
  }
  it("head dim 128 at S = 1025 and Sq ≠ Sk (cross-attention shapes)", async () => {
    const a = await againstNaive(ctx.dev, [1, 1, 1025, 128], [1, 1, 1025, 128], { dropout: 0.1 });
    const b = await againstNaive(ctx.dev, [2, 2, 37, 32], [2, 2, 198, 32], { dropout: 0.1 });
    for (const e of [...a, ...b]) expect(e).toBeLessThan(1e-5);
  });

  // The per-adapter kernels (flashTuningFor) all run here: the GPU shape (64-row workgroups, tiles in
  // workgroup memory) and the portable one must give the naive result on lavapipe too.
  const tunings: Array<[string, FlashTuning]> = [
    ["tiled (GPU), head dim as uniform", { variant: "tiled", wg: 64, kb: 8, bc: 32, constD: false }],
    ["tiled (GPU), head dim compiled in", { variant: "tiled", wg: 16, kb: 4, bc: 8, constD: true }],
    ["direct (portable)", { variant: "direct", wg: 8, kb: 8, bc: 0, constD: false }],
    ["subgroup, four subgroups per workgroup", { variant: "subgroup", wg: 32, kb: 8, bc: 0, constD: false }],
    ["subgroup, 1 row per lane", { variant: "subgroup", wg: 8, kb: 8, bc: 0, constD: false, rpl: 1 }],
    ["subgroup, 4 rows per lane", { variant: "subgroup", wg: 16, kb: 8, bc: 0, constD: false, rpl: 4 }],
  ];
  for (const [name, tuning] of tunings) {
    it(`kernel shape: ${name}`, async () => {
      const shapes: Array<[number[], number[]]> =
        tuning.variant === "subgroup"
          ? [
              [
                [3, 1, 19, 8],
                [3, 1, 41, 8],
              ], // whole idle subgroups in the last workgroup
              [
                [1, 2, 77, 16],
                [1, 2, 77, 16],
              ],
            ]
          : tuning.constD
            ? [
                [
                  [1, 2, 19, 12],
                  [1, 2, 23, 12],
                ],
              ]
            : [
                [
                  [1, 2, 197, 64],
                  [1, 2, 197, 64],
                ],
                [
                  [2, 1, 70, 6],
                  [2, 1, 33, 6],
                ],
              ];
      // Compiling the head dim in makes LLVM unroll everything: keep that one's shader small (no dropout).
      const dropout = tuning.constD ? 0 : 0.1;
      for (const [qs, kvs] of shapes) {
        const errs = await againstNaive(ctx.dev, qs, kvs, { dropout, scale: 0.3 }, tuning);
        errs.forEach((e, i) => expect(e, `${qs} ${["out", "dq", "dk", "dv"][i]}`).toBeLessThan(1e-5));
      }
    });
  }
  it("head dim too large for a workgroup-memory tile: the GPU shape falls back to direct reads", async () => {
    const tiled: FlashTuning = { variant: "tiled", wg: 64, kb: 8, bc: 64, constD: false };
    const errs = await againstNaive(ctx.dev, [1, 1, 9, 600], [1, 1, 9, 600], { scale: 0.05 }, tiled);
    for (const e of errs) expect(e).toBeLessThan(1e-5);
  });
});

describe("flashAttention: RNG, determinism, checkpointing, memory", () => {
  it("draws one RNG offset per call only when dropout is active", async () => {
    const dev = ctx.dev;
    const [q, k, v] = [1, 2, 3].map((s) => rand(dev, [1, 1, 5, 8], s, false));
    const o0 = dev.rng.offset;
    const a = T.flashAttention(q!, k!, v!, { dropout: 0.5, training: false });
    const b = T.flashAttention(q!, k!, v!, { dropout: 0 });
    expect(dev.rng.offset).toBe(o0);
    expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    const c = T.flashAttention(q!, k!, v!, { dropout: 0.5 });
    expect(dev.rng.offset).toBe(o0 + 1);
    expect(() => T.flashAttention(q!, k!, v!, { dropout: 1 })).toThrow(T.ShapeError);
    for (const t of [q, k, v, a, b, c]) t!.dispose();
  });

  it("backward is deterministic and checkpointing replays the dropout mask exactly", async () => {
    const dev = ctx.dev;
    const shape = [2, 2, 45, 32];
    const [q, k, v] = [1, 2, 3].map((s) => rand(dev, shape, s));
    const R = rand(dev, shape, 4, false);
    const grads = async (ckpt: boolean): Promise<number[][]> => {
      T.scope(() => {
        const f = (a: T.Tensor, b: T.Tensor, c: T.Tensor) => T.flashAttention(a, b, c, { dropout: 0.25 });
        const o = ckpt ? T.checkpoint(f, q!, k!, v!) : f(q!, k!, v!);
        T.sum(T.mul(o, R)).backward();
      });
      const out = await Promise.all([q!, k!, v!].map(async (t) => Array.from(await t.grad!.data())));
      for (const t of [q!, k!, v!]) {
        t.grad!.dispose();
        t.grad = null;
      }
      return out;
    };
    const start = dev.rng.offset;
    const plain = await grads(false);
    dev.rng.offset = start;
    const again = await grads(false);
    dev.rng.offset = start;
    const ckpt = await grads(true);
    expect(again).toEqual(plain); // bitwise: no atomics, one writer per element
    expect(ckpt).toEqual(plain);
    for (const t of [q, k, v, R]) t!.dispose();
  });

  it("is one dispatch forward and three backward (Δ, dK/dV, dQ)", async () => {
    const dev = ctx.dev;
    const [q, k, v, g] = [1, 2, 3, 4].map((s) => rand(dev, [2, 2, 30, 32], s, s < 4));
    const n0 = dev.dispatchCount;
    const o = T.flashAttention(q!, k!, v!, { dropout: 0.1 });
    expect(dev.dispatchCount - n0).toBe(1);
    o.backward(g);
    expect(dev.dispatchCount - n0).toBe(4);
    for (const t of [q, k, v, g, o]) t!.dispose();
  });

  it("frees its saved tensors after backward and leaks nothing", async () => {
    const dev = ctx.dev;
    const [q, k, v] = [1, 2, 3].map((s) => rand(dev, [1, 2, 33, 16], s));
    const dropGrads = () => {
      for (const t of [q!, k!, v!]) {
        t.grad?.dispose();
        t.grad = null;
      }
    };
    const live = dev.liveTensors;
    const bytes = dev.memoryStats().liveBytes;
    T.scope(() => T.sum(T.flashAttention(q!, k!, v!, { dropout: 0.1 })).backward());
    dropGrads();
    T.scope(() => {
      T.noGrad(() => T.flashAttention(q!, k!, v!));
    });
    // Only v needs a gradient: dK is computed alongside dV and must be freed.
    q!.requiresGrad = false;
    k!.requiresGrad = false;
    T.scope(() => T.sum(T.flashAttention(q!, k!, v!)).backward());
    expect(q!.grad).toBeNull();
    expect(k!.grad).toBeNull();
    expect(v!.grad).not.toBeNull();
    dropGrads();
    expect(dev.liveTensors).toBe(live);
    expect(dev.memoryStats().liveBytes).toBe(bytes);
    for (const t of [q, k, v]) t!.dispose();
  });

  it("peak memory of forward + backward at S = 1024 is O(S); the naive path's is O(S²)", async () => {
    const dev = ctx.dev;
    const [B, H, S, D] = [1, 2, 1024, 16];
    const shape = [B, H, S, D];
    const scores = B * H * S * S * 4; // one S×S f32 matrix per head: 8 MiB
    const [q, k, v] = [1, 2, 3].map((s) => rand(dev, shape, s));
    const peakOf = async (attn: typeof T.flashAttention): Promise<number> => {
      await dev.sync();
      const base = dev.memoryStats().liveBytes;
      dev.resetPeak();
      T.scope(() => T.sum(attn(q!, k!, v!, { dropout: 0.1 })).backward());
      await dev.sync();
      const peak = dev.memoryStats().peakBytes - base;
      for (const t of [q!, k!, v!]) {
        t.grad!.dispose();
        t.grad = null;
      }
      return peak;
    };
    const flash = await peakOf(T.flashAttention);
    const naive = await peakOf(T.attentionNaive);
    console.log(
      `peak above inputs, [${shape}]: flash ${(flash / 2 ** 20).toFixed(2)} MiB, naive ${(naive / 2 ** 20).toFixed(2)} MiB, one S×S ${(scores / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(flash).toBeLessThan(scores / 4);
    expect(naive).toBeGreaterThan(scores);
    for (const t of [q, k, v]) t!.dispose();
  });
});

describe("flashAttention: dtypes and errors", () => {
  it("f16 storage (shader-f16) tracks the f32 naive path, in every kernel shape", async (tc) => {
    const dev = ctx.dev;
    if (!dev.hasFeature("shader-f16")) tc.skip();
    const shape = [1, 2, 40, 32];
    const h = [1, 2, 3].map((s) => rand(dev, shape, s, true, "f16"));
    // The f32 inputs hold exactly the f16 values, so only f16 rounding of outputs/gradients differs.
    const f = await Promise.all(
      h.map(async (t) => T.tensor(dev, await t.data(), shape, { requiresGrad: true })),
    );
    const R = rand(dev, shape, 4, false);
    const of = T.attentionNaive(f[0]!, f[1]!, f[2]!);
    T.sum(T.mul(of, R)).backward();
    const want = [await of.data(), ...(await Promise.all(f.map((t) => t.grad!.data())))];
    const tunings: Array<FlashTuning | undefined> = [
      undefined,
      { variant: "tiled", wg: 64, kb: 8, bc: 32, constD: false },
      { variant: "direct", wg: 8, kb: 8, bc: 0, constD: false },
    ];
    for (const tuning of tunings) {
      const oh = flashAttentionWith(h[0]!, h[1]!, h[2]!, {}, tuning);
      T.sum(T.mul(T.cast(oh, "f32"), R)).backward();
      expect(oh.dtype).toBe("f16");
      expect(relErr(await oh.data(), want[0]!)).toBeLessThan(2e-3);
      for (let i = 0; i < 3; i++) {
        expect(h[i]!.grad!.dtype).toBe("f16");
        expect(relErr(await h[i]!.grad!.data(), want[i + 1]!)).toBeLessThan(5e-3);
        h[i]!.grad!.dispose();
        h[i]!.grad = null;
      }
      oh.dispose();
    }
    for (const t of [...h, ...f, R, of]) t.dispose();
  });

  it("no query rows: empty output, zero dK and dV", async () => {
    const dev = ctx.dev;
    const q = T.zeros(dev, [1, 1, 0, 8]);
    q.requiresGrad = true;
    const [k, v] = [2, 3].map((s) => rand(dev, [1, 1, 3, 8], s));
    const o = T.flashAttention(q, k!, v!);
    expect(o.shape).toEqual([1, 1, 0, 8]);
    const g = T.zeros(dev, [1, 1, 0, 8]);
    o.backward(g);
    expect(Array.from(await k!.grad!.data())).toEqual(new Array(24).fill(0));
    expect(Array.from(await v!.grad!.data())).toEqual(new Array(24).fill(0));
    for (const t of [q, k!, v!, o, g]) t.dispose();
  });

  it("rejects mismatched shapes and dtypes", () => {
    const dev = ctx.dev;
    const a = T.zeros(dev, [1, 2, 4, 8]);
    const b = T.zeros(dev, [1, 2, 4, 6]);
    const c = T.zeros(dev, [1, 2, 4, 8], { dtype: "bf16" });
    expect(() => T.flashAttention(a, b, b)).toThrow(T.ShapeError);
    expect(() => T.flashAttention(a, a, c)).toThrow(T.DTypeError);
    for (const t of [a, b, c]) t.dispose();
  });
});

/** Float64 packedAttention: split qkv [B, S, 3·H·hd] into heads, attend, merge back to [B, S, H·hd]. */
function packedRef(qkv: Arr, H: number, hd: number, scale: number, drop?: Drop): Arr {
  const [B, S] = qkv.shape as [number, number, number];
  const heads = [0, 1, 2].map((c) => {
    const t = arr([B, H, S, hd]);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let s = 0; s < S; s++)
          for (let d = 0; d < hd; d++)
            t.data[((b * H + h) * S + s) * hd + d] =
              qkv.data[(b * S + s) * 3 * H * hd + c * H * hd + h * hd + d]!;
    return t;
  });
  const o = attentionRef(heads[0]!, heads[1]!, heads[2]!, scale, drop);
  const out = arr([B, S, H * hd]);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let s = 0; s < S; s++)
        for (let d = 0; d < hd; d++)
          out.data[(b * S + s) * H * hd + h * hd + d] = o.data[((b * H + h) * S + s) * hd + d]!;
  return out;
}

describe("packedAttention: fused qkv → merged heads, one autograd node", () => {
  it("forward and dqkv against float64 and finite differences (naive attention)", async () => {
    await check(
      ctx.dev,
      ([qkv]) => T.packedAttention(qkv!, 3, 4, T.attentionNaive, { scale: 0.41 }),
      ([qkv]) => packedRef(qkv!, 3, 4, 0.41),
      inputs([[2, 5, 36]], 71),
    );
  });

  it("with flash attention and dropout: the mask replays in backward", async () => {
    const dev = ctx.dev;
    const drop = { p: 0.25, seed: dev.rng.seed, offset: dev.rng.offset };
    await check(
      dev,
      ([qkv]) => T.packedAttention(qkv!, 2, 6, T.flashAttention, { dropout: 0.25, scale: 0.5 }),
      ([qkv]) => packedRef(qkv!, 2, 6, 0.5, drop),
      inputs([[2, 7, 36]], 72),
    );
  });

  it("equals permute + slices + attention + permute (the composition it replaces), values and gradients", async () => {
    const dev = ctx.dev;
    const [B, S, H, hd] = [3, 17, 4, 8];
    const x = rand(dev, [B, S, 3 * H * hd], 73);
    const R = rand(dev, [B, S, H * hd], 74, false);
    const composed = (qkv: T.Tensor) => {
      const heads = T.permute(T.reshape(qkv, [B, S, 3, H, hd]), [2, 0, 3, 1, 4]);
      const [q, k, v] = [0, 1, 2].map((c) => T.reshape(T.slice(heads, 0, c, 1), [B, H, S, hd]));
      return T.reshape(T.permute(T.attentionNaive(q!, k!, v!), [0, 2, 1, 3]), [B, S, H * hd]);
    };
    const run = async (f: (t: T.Tensor) => T.Tensor): Promise<Float32Array[]> => {
      const o = T.scope(() => {
        const o = f(x);
        T.sum(T.mul(o, R)).backward();
        return o;
      });
      const got = [(await o.data()) as Float32Array, (await x.grad!.data()) as Float32Array];
      x.grad!.dispose();
      x.grad = null;
      o.dispose();
      return got;
    };
    const want = await run(composed);
    const got = await run((t) => T.packedAttention(t, H, hd));
    expect(relErr(got[0]!, want[0]!)).toBeLessThan(1e-6);
    expect(relErr(got[1]!, want[1]!)).toBeLessThan(1e-6);
    // Without grad: no graph, and the heads' temporaries are freed (only the output stays alive).
    const live = dev.liveTensors;
    const o = T.noGrad(() => T.packedAttention(x, H, hd));
    expect(o.requiresGrad).toBe(false);
    expect(dev.liveTensors).toBe(live + 1);
    expect(relErr(await o.data(), want[0]!)).toBeLessThan(1e-6);
    for (const t of [x, R, o]) t.dispose();
  });

  it("bf16 activations: forward and dqkv within bf16 rounding of f32", async () => {
    const dev = ctx.dev;
    const [B, S, H, hd] = [2, 9, 2, 8];
    const x32 = rand(dev, [B, S, 3 * H * hd], 75);
    const x16 = T.tensor(dev, await x32.data(), x32.shape, { requiresGrad: true, dtype: "bf16" });
    const outs: Float32Array[][] = [];
    for (const x of [x32, x16]) {
      const o = T.scope(() => {
        const o = T.packedAttention(x, H, hd);
        T.sum(T.mul(o, o)).backward();
        return o;
      });
      const f32 = async (t: T.Tensor) =>
        (await (t.dtype === "f32" ? t : T.cast(t, "f32")).data()) as Float32Array;
      outs.push([await f32(o), await f32(x.grad!)]);
      o.dispose();
    }
    expect(relErr(outs[1]![0]!, outs[0]![0]!)).toBeLessThan(3e-2);
    expect(relErr(outs[1]![1]!, outs[0]![1]!)).toBeLessThan(6e-2);
    expect(() => T.packedAttention(x32, 3, 8)).toThrow(
      /splitQKV: \[2, 9, 48\] is not \[batch, seq, 3 × 3 heads × 8\]/,
    );
    for (const t of [x32, x16]) t.dispose();
  });
});
