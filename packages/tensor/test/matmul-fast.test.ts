/**
 * Every matmul kernel (texture: CPU adapters; tiled: GPUs; generic: fallback) against the float64
 * reference: odd sizes, sizes that are not multiples of any tile, all transpose combinations, batching
 * and broadcasting, the fused epilogues (alpha, bias, GELU/ReLU, residual) and f16. The subgroup-matrix
 * kernel needs an adapter feature lavapipe lacks; it is verified on the device by its own probe.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { fixedSubgroupSize, resetTuning } from "../src/matmul/config.js";
import { matmulKernelFor, setMatmulAutocast, setMatmulKernelOverride } from "../src/matmul/select.js";
import { probeSubgroupMatrix } from "../src/matmul/subgroup.js";
import { check, inputs, useDevice } from "./helpers.js";
import { type Arr, geluRef, geluTanhRef, map1, map2, matmul as refMatmul, relErr } from "./ref.js";

const ctx = useDevice();
afterAll(() => setMatmulKernelOverride(null));

type Case = [a: number[], b: number[], transA: boolean, transB: boolean];

// [shape of A as stored, shape of B as stored, transA, transB]
const CASES: Case[] = [
  [[1, 1], [1, 1], false, false],
  [[3, 17], [17, 5], false, false],
  [[17, 3], [17, 5], true, false], // transA, K = 17 not a multiple of 4: packed
  [[3, 17], [5, 17], false, true],
  [[17, 3], [5, 17], true, true],
  [[197, 20], [12, 20], false, true], // 197 rows: several 32-row tiles and a ragged last one
  [[20, 197], [20, 12], true, false], // transA with M = 197 (not a multiple of 4): packed
  [[36, 40], [40, 44], false, false], // everything aligned: plain texture copies
  [[40, 36], [44, 40], true, true],
  [[2, 9, 17], [2, 17, 6], false, false],
  [[2, 9, 16], [2, 6, 16], false, true],
  [[2, 16, 8], [2, 16, 12], true, false],
  [[2, 3, 9, 17], [17, 6], false, false], // batch folded into M
  [[9, 17], [3, 17, 6], false, false], // A broadcast over B's batch
  [[3, 9, 16], [12, 16], false, true], // B broadcast, transB
  [[3, 16, 9], [16, 12], true, false], // transA batched against a shared B
];

const KINDS = ["texture", "tiled", "generic"] as const;

function fmt([sa, sb, ta, tb]: Case): string {
  return `[${sa}]${ta ? "ᵀ" : ""} × [${sb}]${tb ? "ᵀ" : ""}`;
}

async function forward(
  a: Arr,
  b: Arr,
  ta: boolean,
  tb: boolean,
  opts: T.MatmulOptions = {},
  dtype: T.DType = "f32",
): Promise<Float32Array> {
  const at = T.tensor(ctx.dev, Float32Array.from(a.data), a.shape, { dtype });
  const bt = T.tensor(ctx.dev, Float32Array.from(b.data), b.shape, { dtype });
  const c = T.matmul(at, bt, { ...opts, transA: ta, transB: tb });
  const got = (await c.data()) as Float32Array;
  for (const t of [at, bt, c]) t.dispose();
  return got;
}

for (const kind of KINDS) {
  describe(`matmul kernel: ${kind}`, () => {
    const skip = () => kind === "texture" && !fixedSubgroupSize(ctx.dev);
    for (const c of CASES) {
      it(fmt(c), async () => {
        if (skip()) return;
        setMatmulKernelOverride(kind);
        const [sa, sb, ta, tb] = c;
        const [a, b] = inputs([sa, sb], sa.length * 7 + sb[0]!);
        const at = T.tensor(ctx.dev, Float32Array.from(a!.data), a!.shape);
        const bt = T.tensor(ctx.dev, Float32Array.from(b!.data), b!.shape);
        if (kind === "texture") expect(matmulKernelFor(at, bt, { transA: ta, transB: tb })).toBe("texture");
        at.dispose();
        bt.dispose();
        const got = await forward(a!, b!, ta, tb);
        expect(relErr(got, refMatmul(a!, b!, ta, tb).data)).toBeLessThan(1e-5);
        setMatmulKernelOverride(null);
      });
    }

    it("fused epilogue: alpha, bias, GELU, residual (N multiple of 4: vector stores)", async () => {
      if (skip()) return;
      setMatmulKernelOverride(kind);
      const [x, w, bias, res] = inputs([[37, 24], [16, 24], [16], [37, 16]], 11);
      const got = await epilogueForward(x!, w!, bias!, res!, "gelu");
      const ref = map2(
        map1(addBias(scale(refMatmul(x!, w!, false, true), 0.5), bias!), geluRef),
        res!,
        (p, q) => p + q,
      );
      expect(relErr(got, ref.data)).toBeLessThan(1e-5);
      setMatmulKernelOverride(null);
    });

    it("fused epilogue with N = 10 (scalar stores) and tanh-GELU / ReLU", async () => {
      if (skip()) return;
      setMatmulKernelOverride(kind);
      const [x, w, bias, res] = inputs([[19, 12], [10, 12], [10], [19, 10]], 12);
      for (const [act, f] of [
        ["gelu_tanh", geluTanhRef],
        ["relu", (v: number) => Math.max(v, 0)],
      ] as const) {
        const got = await epilogueForward(x!, w!, bias!, res!, act);
        const ref = map2(
          map1(addBias(scale(refMatmul(x!, w!, false, true), 0.5), bias!), f),
          res!,
          (p, q) => p + q,
        );
        expect(relErr(got, ref.data), act).toBeLessThan(1e-5);
      }
      setMatmulKernelOverride(null);
    });

    it("f16 operands, f32 accumulation", async () => {
      if (skip() || !ctx.dev.hasFeature("shader-f16")) return;
      setMatmulKernelOverride(kind);
      for (const [sa, sb, ta, tb] of [
        [[33, 24], [24, 20], false, false],
        [[24, 17], [20, 24], true, true],
        [[2, 9, 13], [2, 13, 6], false, false],
      ] as Case[]) {
        // Inputs exactly representable in f16, so only accumulation and the final rounding differ.
        const [a, b] = inputs([sa, sb], 5).map((t) => map1(t, (v) => Math.round(v * 64) / 64));
        const got = await forward(a!, b!, ta, tb, {}, "f16");
        expect(relErr(got, refMatmul(a!, b!, ta, tb).data), fmt([sa, sb, ta, tb])).toBeLessThan(2e-3);
      }
      setMatmulKernelOverride(null);
    });
  });
}

async function epilogueForward(
  x: Arr,
  w: Arr,
  bias: Arr,
  res: Arr,
  activation: T.MatmulActivation,
): Promise<Float32Array> {
  const [xt, wt, bt, rt] = [x, w, bias, res].map((t) =>
    T.tensor(ctx.dev, Float32Array.from(t.data), t.shape),
  );
  const y = T.matmul(xt!, wt!, { transB: true, alpha: 0.5, bias: bt!, activation, residual: rt! });
  const got = (await y.data()) as Float32Array;
  for (const t of [xt!, wt!, bt!, rt!, y]) t.dispose();
  return got;
}

function scale(a: Arr, s: number): Arr {
  return map1(a, (v) => v * s);
}
function addBias(a: Arr, b: Arr): Arr {
  return map2(a, b, (x, y) => x + y);
}

describe("texture kernel: both ways of reading its operand textures", () => {
  // Read-only storage textures where the WGSL extension exists (the fast path on lavapipe), sampled
  // textures elsewhere (older browsers): the same products either way.
  const EXT = "readonly_and_readwrite_storage_textures";
  for (const read of ["storage", "sampled"] as const) {
    it(`${read} reads, every case above`, async () => {
      const a = ctx.dev.adapter;
      if (!fixedSubgroupSize(ctx.dev) || (read === "storage" && !a.wgslLanguageFeatures?.includes(EXT)))
        return;
      const saved = a.wgslLanguageFeatures;
      if (read === "sampled") a.wgslLanguageFeatures = (saved ?? []).filter((f) => f !== EXT);
      setMatmulKernelOverride("texture");
      try {
        for (const c of CASES) {
          const [sa, sb, ta, tb] = c;
          const [x, y] = inputs([sa, sb], sa.length * 13 + sb[0]!);
          const got = await forward(x!, y!, ta, tb);
          expect(relErr(got, refMatmul(x!, y!, ta, tb).data), fmt(c)).toBeLessThan(1e-5);
        }
      } finally {
        setMatmulKernelOverride(null);
        a.wgslLanguageFeatures = saved;
      }
    });
  }
});

describe("matmul epilogue gradients (per-adapter kernel)", () => {
  it("Linear + GELU: d/dx, d/dW, d/dbias through the saved pre-activation", async () => {
    await check(
      ctx.dev,
      ([x, w, b]) => T.matmul(x!, w!, { transB: true, bias: b!, activation: "gelu" }),
      ([x, w, b]) => map1(addBias(refMatmul(x!, w!, false, true), b!), geluRef),
      inputs([[2, 5, 12], [8, 12], [8]], 21),
      { gradTol: 2e-4 },
    );
  });
  it("projection + residual: the residual gets the incoming gradient", async () => {
    await check(
      ctx.dev,
      ([x, w, r]) => T.matmul(x!, w!, { transB: true, residual: r!, alpha: 2 }),
      ([x, w, r]) => map2(scale(refMatmul(x!, w!, false, true), 2), r!, (p, q) => p + q),
      inputs(
        [
          [7, 9],
          [6, 9],
          [7, 6],
        ],
        22,
      ),
    );
  });
  it("tanh-GELU with transA and a batched B", async () => {
    await check(
      ctx.dev,
      ([a, b]) => T.matmul(a!, b!, { transA: true, activation: "gelu_tanh" }),
      ([a, b]) => map1(refMatmul(a!, b!, true, false), geluTanhRef),
      inputs(
        [
          [2, 6, 5],
          [2, 6, 7],
        ],
        23,
      ),
      { gradTol: 2e-4 },
    );
  });
  it("rejects a residual of the wrong shape, naming it", () => {
    const a = T.zeros(ctx.dev, [3, 4]);
    const b = T.zeros(ctx.dev, [4, 5]);
    const r = T.zeros(ctx.dev, [3, 4]);
    expect(() => T.matmul(a, b, { residual: r })).toThrow(
      /matmul: residual \[3, 4\] f32 must be \[3, 5\] f32/,
    );
    for (const t of [a, b, r]) t.dispose();
  });
  it("leaves no tensors behind (the pre-activation is freed by backward)", async () => {
    const before = ctx.dev.liveTensors;
    T.scope(() => {
      const x = T.rand(ctx.dev, [4, 8]);
      const w = T.rand(ctx.dev, [6, 8]);
      x.requiresGrad = true;
      w.requiresGrad = true;
      T.sum(T.matmul(x, w, { transB: true, activation: "gelu" })).backward();
    });
    expect(ctx.dev.liveTensors).toBe(before);
  });
  it("subgroup-matrix probe reports unavailable or a verified setup, never throws", async () => {
    const status = await probeSubgroupMatrix(ctx.dev);
    expect(status).toMatch(/^(unavailable|ok|failed)/);
  });
});

describe("matmul autocast and autotune", () => {
  it("autocast f16 on the storage kernels: f16 operands, f32 accumulation and result", async () => {
    if (!ctx.dev.hasFeature("shader-f16")) return;
    setMatmulKernelOverride("tiled");
    setMatmulAutocast("f16");
    try {
      const [a, b, bias] = inputs([[33, 24], [20, 24], [20]], 41).map((t) =>
        map1(t, (v) => Math.round(v * 64) / 64),
      );
      const [at, bt, bb] = [a!, b!, bias!].map((t) => T.tensor(ctx.dev, Float32Array.from(t.data), t.shape));
      const y = T.matmul(at!, bt!, { transB: true, bias: bb! });
      expect(y.dtype).toBe("f32");
      expect(relErr(await y.data(), addBias(refMatmul(a!, b!, false, true), bias!).data)).toBeLessThan(2e-3);
      for (const t of [at!, bt!, bb!, y]) t.dispose();
    } finally {
      setMatmulAutocast(null);
      setMatmulKernelOverride(null);
    }
  });
  it("autotune times the candidates and writes the cache it then reads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-autotune-"));
    const saved = process.env.VIT_AUTOTUNE_CACHE;
    process.env.VIT_AUTOTUNE_CACHE = join(dir, "autotune.json");
    try {
      const r = await T.autotuneMatmul(ctx.dev);
      expect(r.path).toBe(join(dir, "autotune.json"));
      expect(r.results.large?.kind).toBeDefined();
      const cached = JSON.parse(readFileSync(r.path!, "utf8"));
      expect(Object.values(cached)[0]).toHaveProperty("large");
      expect(T.matmulTuning(ctx.dev, "large").source).toBe("autotune");
    } finally {
      if (saved === undefined) Reflect.deleteProperty(process.env, "VIT_AUTOTUNE_CACHE");
      else process.env.VIT_AUTOTUNE_CACHE = saved;
      rmSync(dir, { recursive: true, force: true });
      resetTuning(ctx.dev, true);
    }
  }, 120_000);
  it("ensureMatmulTuning tunes once per adapter and host CPU, then reads the cache", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-autotune-"));
    const saved = { cache: process.env.VIT_AUTOTUNE_CACHE, off: process.env.VIT_AUTOTUNE };
    process.env.VIT_AUTOTUNE_CACHE = join(dir, "autotune.json");
    Reflect.deleteProperty(process.env, "VIT_AUTOTUNE"); // the shared test config turns it off
    resetTuning(ctx.dev, true);
    try {
      const first = await T.ensureMatmulTuning(ctx.dev);
      expect(first?.path).toBe(join(dir, "autotune.json"));
      const key = T.tuningKey(ctx.dev);
      // A CPU adapter's tuning belongs to this host's CPU (its SIMD), not only to the adapter string.
      if (/llvmpipe|lavapipe|swiftshader/i.test(`${ctx.dev.adapter.device} ${ctx.dev.adapter.description}`)) {
        expect(key).toContain(T.hostCpuKey()!);
      }
      // ...and to this generation of the kernels: a cache written for older kernels is tuned again.
      expect(key).toMatch(/ \|\| kernels v\d+$/);
      expect(Object.keys(JSON.parse(readFileSync(first!.path!, "utf8")))).toEqual([key]);
      resetTuning(ctx.dev, true);
      expect(await T.ensureMatmulTuning(ctx.dev)).toBeNull();
      expect(T.matmulTuning(ctx.dev, "large").source).toBe("autotune");
    } finally {
      for (const [k, v] of [
        ["VIT_AUTOTUNE_CACHE", saved.cache],
        ["VIT_AUTOTUNE", saved.off],
      ] as const) {
        if (v === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
      resetTuning(ctx.dev, true);
    }
  }, 120_000);
});
