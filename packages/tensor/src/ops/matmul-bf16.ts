/**
 * Matmul in bf16 storage precision (autocast "bf16", and Megatron O2's bf16 weights). Operands are
 * rounded to bf16 (round-to-nearest-even) and only those half-size copies are kept for backward; each
 * kernel call expands them to f32 temporaries that are freed right after, and products accumulate in
 * f32 (WGSL has no bf16 arithmetic). Gradients come out in f32, as Megatron's fp32 main_grad.
 */
import { needsGrad, noGrad, record } from "../autograd.js";
import type { Tensor } from "../tensor.js";
import { cast } from "./cast.js";
import { type MatmulOptions, matmulBackward, matmulKernelWithPre } from "./matmul.js";

function toBf16(t: Tensor): Tensor {
  return t.dtype === "bf16" ? t : noGrad(() => cast(t, "bf16"));
}

function toF32(t: Tensor): Tensor {
  return noGrad(() => cast(t, "f32"));
}

export function matmulBf16(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const grad = needsGrad(a, b, opts.bias, opts.residual);
  const a16 = toBf16(a);
  const b16 = toBf16(b);
  const af = toF32(a16);
  const bf = toF32(b16);
  const { out, pre } = matmulKernelWithPre(af, bf, { ...opts, savePre: grad && (opts.activation ?? "none") !== "none" });
  af.dispose();
  bf.dispose();
  const release = () => {
    if (a16 !== a) a16.dispose();
    if (b16 !== b) b16.dispose();
  };
  if (!grad) {
    release();
    pre?.dispose();
    return out;
  }
  record(out, {
    name: "matmul_bf16",
    inputs: [a, b, opts.bias ?? null, opts.residual ?? null],
    backward: (g) => {
      const ax = toF32(a16);
      const bx = toF32(b16);
      const grads = matmulBackward(g, ax, bx, pre, opts, { a: a.requiresGrad, b: b.requiresGrad });
      ax.dispose();
      bx.dispose();
      release();
      return grads;
    },
  });
  return out;
}
