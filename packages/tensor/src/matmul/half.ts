/**
 * Matmul in half precision (autocast "bf16" / "f16", and Megatron O2's half weights). Operands are
 * rounded to the half type (round-to-nearest-even; an f16 overflow becomes ±Inf) and only those half-size
 * copies are kept for backward, together with the activation's pre-activation (the MLP's largest
 * intermediate) also stored in half. Products accumulate in f32 and results come out in f32: on an adapter
 * with shader-f16 the f16 operands go straight into the f16 kernels (the tensor-core path on GPUs), in
 * every other case each call expands them to f32 temporaries freed right after. Gradients come out in f32,
 * as Megatron's fp32 main_grad.
 *
 * Under autocast the result is stored in the half type too, as torch.autocast's linear gives it: the
 * activations that later ops keep for backward (qkv, attention scores, GELU outputs) are then half-size.
 * The epilogue still runs in f32 registers and rounds once. A fused f32 residual keeps the result f32
 * (torch promotes f32 + half to f32): the residual stream stays f32, which keeps fp16 within 2e-5 of the
 * fp32 loss curve where a half stream drifted 1e-2. Outside autocast (O2 weights alone) results are f32.
 *
 * Under "f16" the incoming gradient is rounded to f16 as well before the backward products, as an fp16
 * GEMM takes it: that is where fp16 training under- and overflows, and why it needs the loss scaler
 * (@vit/optim LossScaler). bf16 has f32's range, so its backward keeps the f32 gradient.
 */
import { autocastDtype } from "../autocast.js";
import { needsGrad, noGrad, record } from "../autograd.js";
import { cast } from "../ops/cast.js";
import type { Tensor } from "../tensor.js";
import { matmulBackward } from "./backward.js";
import type { MatmulOptions } from "./plan.js";
import { matmulKernelWithPre } from "./run.js";
import { f16OperandKernel } from "./select.js";

export type HalfDType = "bf16" | "f16";

function toHalf(t: Tensor, dtype: HalfDType): Tensor {
  return t.dtype === dtype ? t : noGrad(() => cast(t, dtype));
}

function toF32(t: Tensor): Tensor {
  return t.dtype === "f32" ? t : noGrad(() => cast(t, "f32"));
}

/** The product of two half operands (no autograd), f32 result; `pre` (if asked) in f32. */
function halfKernel(a: Tensor, b: Tensor, opts: MatmulOptions & { savePre?: boolean }) {
  if (a.dtype === "f16" && f16OperandKernel(a, b, opts))
    return matmulKernelWithPre(a, b, { ...opts, outF32: true });
  // Exact: half values widen to f32 without rounding, so this equals a half GEMM with f32 accumulation.
  const af = toF32(a);
  const bf = toF32(b);
  const r = matmulKernelWithPre(af, bf, opts);
  af.dispose();
  bf.dispose();
  return r;
}

export function matmulHalf(a: Tensor, b: Tensor, dtype: HalfDType, opts: MatmulOptions = {}): Tensor {
  const grad = needsGrad(a, b, opts.bias, opts.residual);
  const a16 = toHalf(a, a.dtype === "bf16" || a.dtype === "f16" ? a.dtype : dtype);
  const b16 = toHalf(b, a16.dtype as HalfDType);
  // The epilogue's operands in f32 (a half residual: the residual stream under autocast).
  const bias = opts.bias ? toF32(opts.bias) : undefined;
  const residual = opts.residual ? toF32(opts.residual) : undefined;
  const { out: out32, pre } = halfKernel(a16, b16, {
    ...opts,
    ...(bias ? { bias } : {}),
    ...(residual ? { residual } : {}),
    savePre: grad && (opts.activation ?? "none") !== "none",
  });
  if (bias && bias !== opts.bias) bias.dispose();
  if (residual && residual !== opts.residual) residual.dispose();
  const outDtype = autocastDtype() && opts.residual?.dtype !== "f32" ? dtype : "f32";
  const out = outDtype === "f32" ? out32 : toHalf(out32, outDtype);
  if (out !== out32) out32.dispose();
  const release = () => {
    if (a16 !== a) a16.dispose();
    if (b16 !== b) b16.dispose();
  };
  if (!grad) {
    release();
    pre?.dispose();
    return out;
  }
  // Keep the pre-activation in half as well: [tokens, ffn_hidden] is the biggest tensor a block saves.
  const pre16 = pre ? toHalf(pre, dtype) : null;
  pre?.dispose();
  record(out, {
    name: `matmul_${dtype}`,
    inputs: [a, b, opts.bias ?? null, opts.residual ?? null],
    backward: (g) => {
      const ax = toF32(a16);
      const bx = toF32(b16);
      const px = pre16 ? toF32(pre16) : null;
      pre16?.dispose();
      let gx = toF32(g);
      if (dtype === "f16") {
        const g16 = toHalf(gx, "f16");
        if (gx !== g) gx.dispose();
        gx = toF32(g16);
        if (g16 !== g) g16.dispose();
      }
      const grads = matmulBackward(gx, ax, bx, px, opts, { a: a.requiresGrad, b: b.requiresGrad });
      // The residual's gradient is the incoming one itself (matmulBackward passes it through).
      if (gx !== g) {
        if (grads[3] === gx) grads[3] = g;
        gx.dispose();
      }
      ax.dispose();
      bx.dispose();
      release();
      return grads;
    },
  });
  return out;
}
