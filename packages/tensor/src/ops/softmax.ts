/** Numerically stable softmax over the last axis, and its backward: dx = y ⊙ (g − Σ g⊙y). */
import { needsGrad, record } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import { ShapeError } from "../errors.js";
import { SOFTMAX_FIELDS, softmaxBackwardKernel, softmaxKernel } from "../kernels/softmax.js";
import { grid1D } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";

export function softmax(x: Tensor): Tensor {
  const device = sameDevice("softmax", x);
  requireFloat("softmax", x);
  if (x.rank < 1) throw new ShapeError("softmax: needs at least one dimension.");
  const d = x.shape[x.rank - 1]!;
  const rows = x.numel / Math.max(1, d);
  const y = new Tensor(device, x.shape, x.dtype);
  device.run({
    name: "softmax",
    kernel: softmaxKernel,
    variant: { dtype: x.dtype },
    buffers: [x.buffer, y.buffer],
    uniforms: { fields: SOFTMAX_FIELDS, values: [rows, d] },
    workgroups: grid1D(rows, 64),
  });
  if (needsGrad(x)) {
    record(y, {
      name: "softmax",
      inputs: [x],
      backward: (g) => {
        const dx = new Tensor(device, x.shape, x.dtype);
        device.run({
          name: "softmax_backward",
          kernel: softmaxBackwardKernel,
          variant: { dtype: x.dtype },
          buffers: [y.buffer, g.buffer, dx.buffer],
          uniforms: { fields: SOFTMAX_FIELDS, values: [rows, d] },
          workgroups: grid1D(rows, 64),
        });
        return [dx];
      },
    });
  }
  return y;
}
