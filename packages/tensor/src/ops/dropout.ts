/**
 * Dropout with masks drawn from Philox(seed, offset, element index). Nothing is stored for backward:
 * the mask is regenerated from the same (seed, offset), and activation checkpointing reproduces it by
 * replaying the device's RNG offset.
 */
import { needsGrad, noGrad, record } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import { ShapeError } from "../errors.js";
import { DROPOUT_FIELDS, dropoutKernel } from "../kernels/dropout.js";
import { grid1D } from "../kernels/wgsl.js";
import { nextOffset } from "../rng.js";
import { Tensor } from "../tensor.js";
import { cast } from "./cast.js";

function maskKernel(x: Tensor, p: number, seed: number, offset: number, name: string): Tensor {
  if (x.dtype === "bf16") {
    // Packed pairs: mask in f32 (exact widening) and round back; the mask is per element index either way.
    const x32 = noGrad(() => cast(x, "f32"));
    const y32 = maskKernel(x32, p, seed, offset, name);
    const y = noGrad(() => cast(y32, "bf16"));
    x32.dispose();
    y32.dispose();
    return y;
  }
  const y = new Tensor(x.device, x.shape, x.dtype);
  x.device.run({
    name,
    kernel: dropoutKernel,
    variant: { dtype: x.dtype },
    buffers: [x.buffer, y.buffer],
    uniforms: { fields: DROPOUT_FIELDS, values: [x.numel, p, 1 / (1 - p), seed, offset] },
    workgroups: grid1D(x.numel),
  });
  return y;
}

/**
 * Zeroes each element with probability p and scales the rest by 1/(1−p). Identity (no copy is made
 * only when p = 0 or not training: the input itself is returned).
 */
export function dropout(x: Tensor, p: number, training = true): Tensor {
  sameDevice("dropout", x);
  requireFloat("dropout", x, ["f32", "f16", "bf16"]);
  if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout: probability ${p} must be in [0, 1).`);
  if (!training || p === 0) return x;
  const seed = x.device.rng.seed;
  const offset = nextOffset(x.device.rng);
  const y = maskKernel(x, p, seed, offset, "dropout");
  if (needsGrad(x)) {
    record(y, {
      name: "dropout",
      inputs: [x],
      backward: (g) => [maskKernel(g, p, seed, offset, "dropout_backward")],
    });
  }
  return y;
}
