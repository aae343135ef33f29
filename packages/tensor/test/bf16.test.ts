/** bf16 storage precision: autocast matmuls and bf16 (O2) weights, against float64 on rounded operands. */
import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { useDevice } from "./helpers.js";
import { matmul, randArr, relErr } from "./ref.js";

const ctx = useDevice();
const round = (v: Float64Array) => Float64Array.from(v, (x) => T.bf16BitsToF32(T.f32ToBf16Bits(x)));
/** Largest |got − want| / |want| over elements: one rounding to bf16 (8 significant bits) is ≤ 2⁻⁸ + f32 noise. */
const maxRel = (got: ArrayLike<number>, want: Float64Array) =>
  Math.max(...Array.from(want, (w, i) => Math.abs(got[i]! - w) / Math.max(Math.abs(w), 1e-6)));

describe("bf16 matmul", () => {
  it("autocast rounds both operands to bf16, accumulates in f32, stores the result in bf16; gradients use the rounded operands", async () => {
    const dev = ctx.dev;
    const A = randArr([37, 19], 1);
    const B = randArr([23, 19], 2);
    const a = T.tensor(dev, Float32Array.from(A.data), A.shape, { requiresGrad: true });
    const b = T.tensor(dev, Float32Array.from(B.data), B.shape, { requiresGrad: true });
    const G = randArr([37, 23], 3);
    const g = T.tensor(dev, Float32Array.from(G.data), G.shape);
    const c = T.autocast("bf16", () => T.matmul(a, b, { transB: true }));
    c.backward(g);
    const Ar = { shape: A.shape, data: round(A.data) };
    const Br = { shape: B.shape, data: round(B.data) };
    // The result is stored in bf16 (torch.autocast's linear gives bf16): one rounding of the f32 product.
    expect(c.dtype).toBe("bf16");
    const cv = await c.data();
    expect(Array.from(cv).every((x) => T.bf16BitsToF32(T.f32ToBf16Bits(x)) === x)).toBe(true);
    expect(maxRel(cv, matmul(Ar, Br, false, true).data)).toBeLessThan(2 ** -8 + 1e-5);
    expect(relErr(await a.grad!.data(), matmul(G, Br).data)).toBeLessThan(1e-6);
    // Unrounded operands would differ by ~1e-3: the test can tell.
    expect(relErr(await a.grad!.data(), matmul(G, B).data)).toBeGreaterThan(1e-4);
    expect(relErr(await b.grad!.data(), matmul(G, Ar, true, false).data)).toBeLessThan(1e-6);
    expect(a.grad!.dtype).toBe("f32");
  });

  it("a bf16 weight (O2) gets an f32 gradient and works without autocast", async () => {
    const dev = ctx.dev;
    const X = randArr([5, 8], 4);
    const W = randArr([6, 8], 5);
    const w16 = T.cast(T.tensor(dev, Float32Array.from(W.data), W.shape), "bf16");
    w16.requiresGrad = true;
    const x = T.tensor(dev, Float32Array.from(X.data), X.shape);
    const y = T.matmul(x, w16, { transB: true });
    T.sum(y).backward();
    expect(w16.dtype).toBe("bf16");
    expect(w16.grad!.dtype).toBe("f32");
    const Xr = { shape: X.shape, data: round(X.data) };
    const ones = { shape: [5, 6], data: new Float64Array(30).fill(1) };
    expect(relErr(await w16.grad!.data(), matmul(ones, Xr, true, false).data)).toBeLessThan(1e-6);
  });
});
