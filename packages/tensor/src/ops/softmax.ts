/**
 * Numerically stable softmax over the last axis, and its backward: dx = y ⊙ (g − Σ g⊙y). Arithmetic is
 * f32 whatever the storage (NeMo's softmax_in_fp32); a half input gives a half output, which is what
 * backward keeps (attention probabilities under autocast), and the gradient comes out in f32.
 */
import { needsGrad, noGrad, record } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import { ShapeError } from "../errors.js";
import { SOFTMAX_FIELDS, softmaxBackwardKernel, softmaxKernel } from "../kernels/softmax.js";
import { grid1D } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";
import { cast } from "./cast.js";

const f32Of = (t: Tensor) => (t.dtype === "f32" ? t : noGrad(() => cast(t, "f32")));

export function softmax(x: Tensor): Tensor {
  sameDevice("softmax", x);
  requireFloat("softmax", x, ["f32", "f16", "bf16"]);
  if (x.rank < 1) throw new ShapeError("softmax: needs at least one dimension.");
  const d = x.shape[x.rank - 1]!;
  const rows = x.numel / Math.max(1, d);
  const y = x.dtype === "bf16" ? softmaxBf16(x) : forwardKernel(x);
  if (needsGrad(x)) {
    record(y, {
      name: "softmax",
      inputs: [x],
      backward: (g) => {
        // Rows of packed bf16 need not start on a word: the backward reads y and g in f32 (exact widening).
        const yf = y.dtype === "bf16" ? f32Of(y) : y;
        const gf = g.dtype === y.dtype || g.dtype === "f32" ? g : f32Of(g);
        const dx = backwardKernel(yf, gf, rows, d);
        if (yf !== y) yf.dispose();
        if (gf !== g) gf.dispose();
        return [dx];
      },
    });
  }
  return y;
}

/** bf16 rows may straddle u32 words (odd widths), so one row cannot own its words: compute in f32, round. */
function softmaxBf16(x: Tensor): Tensor {
  const x32 = f32Of(x);
  const y32 = forwardKernel(x32);
  const y = noGrad(() => cast(y32, "bf16"));
  x32.dispose();
  y32.dispose();
  return y;
}

function forwardKernel(x: Tensor): Tensor {
  const device = x.device;
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
  return y;
}

/** dx in f32 from y (f32 or f16) and g (f32 or y's type). */
function backwardKernel(y: Tensor, g: Tensor, rows: number, d: number): Tensor {
  const device = y.device;
  const dx = new Tensor(device, y.shape, "f32");
  device.run({
    name: "softmax_backward",
    kernel: softmaxBackwardKernel,
    variant: { y: y.dtype, g: g.dtype },
    buffers: [y.buffer, g.buffer, dx.buffer],
    uniforms: { fields: SOFTMAX_FIELDS, values: [rows, d] },
    workgroups: grid1D(rows, 64),
  });
  return dx;
}
