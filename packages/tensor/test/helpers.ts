import { afterAll, beforeAll, expect } from "vitest";
import { Device, type Tensor, mul, scope, sum, tensor } from "../src/index.js";
import { type Arr, numericGrad, randArr, relErr } from "./ref.js";

/** One device per test file, destroyed at the end. */
export function useDevice(): { dev: Device } {
  const ctx = {} as { dev: Device };
  beforeAll(async () => {
    ctx.dev = await Device.create({ seed: 1234 });
  });
  afterAll(() => ctx.dev?.destroy());
  return ctx;
}

/** Random inputs rounded to f32, so the float64 reference sees exactly what the GPU sees. */
export function inputs(shapes: number[][], seed: number, lo = -1, hi = 1): Arr[] {
  return shapes.map((s, i) => {
    const a = randArr(s, seed * 31 + i, lo, hi);
    a.data = Float64Array.from(Float32Array.from(a.data));
    return a;
  });
}

export interface CheckOptions {
  tol?: number;
  gradTol?: number;
  /** Indices of inputs to check gradients for (default all); [] skips backward. */
  grads?: number[];
}

/**
 * Forward against the float64 reference, and every input gradient of Σ out·R (R random) against
 * central finite differences of the reference.
 */
export async function check(
  dev: Device,
  gpuFn: (ts: Tensor[]) => Tensor,
  refFn: (xs: Arr[]) => Arr,
  xs: Arr[],
  opts: CheckOptions = {},
): Promise<void> {
  const gradIdx = opts.grads ?? xs.map((_, i) => i);
  const ts = xs.map((a, i) =>
    tensor(dev, Float32Array.from(a.data), a.shape, { requiresGrad: gradIdx.includes(i) }),
  );
  const ref = refFn(xs);
  const R = randArr(ref.shape, 99);
  const Rt = tensor(dev, Float32Array.from(R.data), R.shape);
  const out = scope(() => {
    const o = gpuFn(ts);
    if (gradIdx.length) sum(mul(o, Rt)).backward();
    return o;
  });
  expect(out.shape).toEqual(ref.shape);
  const got = await out.data();
  expect(relErr(got, ref.data)).toBeLessThan(opts.tol ?? 1e-5);
  for (const k of gradIdx) {
    const num = numericGrad(refFn, xs, k, R);
    const g = ts[k]!.grad;
    expect(g, `gradient of input ${k}`).not.toBeNull();
    expect(g!.shape).toEqual(xs[k]!.shape);
    const err = relErr(await g!.data(), num.data);
    expect(err, `gradient of input ${k}`).toBeLessThan(opts.gradTol ?? 1e-4);
  }
  for (const t of [...ts, Rt, out]) t.dispose();
}
