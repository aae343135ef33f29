/**
 * The differentiable matmul: routes half operands and autocast to half.ts, everything else to the
 * f32/f16 kernels (run.ts) with their backward (backward.ts).
 */
import { autocastDtype } from "../autocast.js";
import { needsGrad, record } from "../autograd.js";
import type { Tensor } from "../tensor.js";
import { matmulBackward } from "./backward.js";
import { matmulHalf } from "./half.js";
import type { MatmulOptions } from "./plan.js";
import { matmulKernelWithPre } from "./run.js";

/**
 * C = act(alpha · op(A) · op(B) + bias) + residual, op = transpose when the flag is set.
 * A: [..., M, K], B: [..., K, N] or [K, N] shared across A's batch.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  // bf16 operands (O2 weights) or autocast take the half-precision path (half.ts); so do f16
  // weights (fp16 O2) multiplying f32 activations, and half activations (attention) under autocast.
  const ac = autocastDtype();
  if (a.dtype === "bf16" || b.dtype === "bf16") return matmulHalf(a, b, "bf16", opts);
  if (ac) return matmulHalf(a, b, ac, opts);
  if (a.dtype !== b.dtype && (a.dtype === "f16" || b.dtype === "f16")) return matmulHalf(a, b, "f16", opts);
  const activation = opts.activation ?? "none";
  const grad = needsGrad(a, b, opts.bias, opts.residual);
  const { out: c, pre } = matmulKernelWithPre(a, b, { ...opts, savePre: grad && activation !== "none" });
  if (grad) {
    record(c, {
      name: "matmul",
      inputs: [a, b, opts.bias ?? null, opts.residual ?? null],
      backward: (g) => matmulBackward(g, a, b, pre, opts, { a: a.requiresGrad, b: b.requiresGrad }),
    });
  } else if (pre) {
    pre.dispose();
  }
  return c;
}
