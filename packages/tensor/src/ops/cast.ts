/** dtype conversion (the kernel, and why bf16 is written a word at a time: kernels/cast.ts). */
import { needsGrad, record } from "../autograd.js";
import { checkDType, sameDevice } from "../checks.js";
import type { DType } from "../dtype.js";
import { DTypeError } from "../errors.js";
import { CAST_FIELDS, castKernel } from "../kernels/cast.js";
import { grid1D } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";

function runCast(x: Tensor, to: DType): Tensor {
  const device = sameDevice("cast", x);
  checkDType(device, to, "cast");
  const out = new Tensor(device, x.shape, to);
  const from = x.dtype;
  const n = to === "bf16" ? Math.ceil(x.numel / 2) : x.numel;
  device.run({
    name: `cast_${from}_${to}`,
    kernel: castKernel,
    variant: { from, to },
    buffers: [x.buffer, out.buffer],
    uniforms: { fields: CAST_FIELDS, values: [x.numel] },
    workgroups: grid1D(n),
  });
  return out;
}

/** Converts to `dtype`. Float→int rounds to nearest. Differentiable between float dtypes. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) {
    throw new DTypeError(`cast: ${x.describe()} is already ${dtype}; use clone() for a copy.`);
  }
  const y = runCast(x, dtype);
  const isF = (d: DType) => d === "f32" || d === "f16" || d === "bf16";
  if (needsGrad(x) && isF(x.dtype) && isF(dtype)) {
    record(y, { name: "cast", inputs: [x], backward: (g) => [runCast(g, x.dtype)] });
  }
  return y;
}
