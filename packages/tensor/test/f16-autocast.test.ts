/**
 * fp16 mixed precision (autocast "f16", NeMo's precision 16): f16 operands, f32 accumulation, against
 * float64 on operands rounded to f16 (an independent host rounding), and the IEEE overflow the loss scaler
 * relies on. Skips, saying why, on an adapter without shader-f16.
 */
import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { useDevice } from "./helpers.js";
import { matmul, randArr, relErr } from "./ref.js";

const ctx = useDevice();
const round = (v: Float64Array) => Float64Array.from(v, (x) => T.f16BitsToF32(T.f32ToF16Bits(x)));
// Known before the device exists: Dawn's adapter on this host is what Device.create() will open.
const hasF16 = await T.Device.create().then((d) => {
  const yes = d.hasFeature("shader-f16");
  d.destroy();
  return yes;
});
const why = "the adapter lacks shader-f16, so fp16 cannot run here";

describe.skipIf(!hasF16)(`f16 autocast (${hasF16 ? "adapter has shader-f16" : `skipped: ${why}`})`, () => {
  for (const kernel of [null, "tiled"] as const) {
    it(`rounds operands and the incoming gradient to f16, accumulates in f32, stores the result in f16 (kernel ${kernel ?? "default"})`, async () => {
      const dev = ctx.dev;
      T.setMatmulKernelOverride(kernel);
      try {
        const A = randArr([37, 20], 1);
        const B = randArr([24, 20], 2);
        const a = T.tensor(dev, Float32Array.from(A.data), A.shape, { requiresGrad: true });
        const b = T.tensor(dev, Float32Array.from(B.data), B.shape, { requiresGrad: true });
        const G = randArr([37, 24], 3);
        const g = T.tensor(dev, Float32Array.from(G.data), G.shape);
        const c = T.autocast("f16", () => T.matmul(a, b, { transB: true }));
        // Stored in f16, as torch.autocast's linear gives it: one rounding (11 significant bits) of the f32 product.
        expect(c.dtype).toBe("f16");
        c.backward(g);
        const Ar = { shape: A.shape, data: round(A.data) };
        const Br = { shape: B.shape, data: round(B.data) };
        const Gr = { shape: G.shape, data: round(G.data) };
        const cv = await c.data();
        expect(Array.from(cv).every((x) => T.f16BitsToF32(T.f32ToF16Bits(x)) === x)).toBe(true);
        const want = matmul(Ar, Br, false, true).data;
        const worst = Math.max(
          ...Array.from(want, (w, i) => Math.abs(cv[i]! - w) / Math.max(Math.abs(w), 1e-3)),
        );
        expect(worst).toBeLessThan(2 ** -11 + 1e-5);
        expect(relErr(await a.grad!.data(), matmul(Gr, Br).data)).toBeLessThan(1e-6);
        expect(relErr(await a.grad!.data(), matmul(G, Br).data)).toBeGreaterThan(2e-5);
        expect(relErr(await b.grad!.data(), matmul(Gr, Ar, true, false).data)).toBeLessThan(1e-6);
        expect(a.grad!.dtype).toBe("f32");
      } finally {
        T.setMatmulKernelOverride(null);
      }
    });
  }

  it("an f16 overflow becomes Inf (not a clamped value), NaN stays NaN", async () => {
    const x = T.tensor(ctx.dev, Float32Array.from([65504, 65519, 65520, -1e6, 1e-9, Number.NaN, 3e38]), [7]);
    const back = await T.cast(T.cast(x, "f16"), "f32").data();
    expect(Array.from(back.slice(0, 5))).toEqual([
      65504,
      65504,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      0,
    ]);
    expect(Number.isNaN(back[5])).toBe(true);
    expect(back[6]).toBe(Number.POSITIVE_INFINITY);
  });

  it("the GELU pre-activation is kept in half precision: fewer live bytes after the forward", async () => {
    const dev = ctx.dev;
    const x = T.tensor(dev, new Float32Array(64 * 32).fill(0.5), [64, 32], { requiresGrad: true });
    const w = T.tensor(dev, new Float32Array(128 * 32).fill(0.01), [128, 32], { requiresGrad: true });
    const live = (dt: "bf16" | "f16" | null) => {
      const before = dev.memoryStats().liveBytes;
      const y = T.autocast(dt, () => T.matmul(x, w, { transB: true, activation: "gelu" }));
      const saved = dev.memoryStats().liveBytes - before;
      y.backward(T.tensor(dev, new Float32Array(64 * 128).fill(1), [64, 128]));
      return saved;
    };
    const f32 = live(null);
    for (const dt of ["f16", "bf16"] as const) expect(live(dt)).toBeLessThan(f32);
  });
});
