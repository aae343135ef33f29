import { elementwise } from "../ops/elementwise-kernel.js";
import { sumTo } from "../ops/reduce.js";
/**
 * Gradients of the fused matmul, as products of the same kernels (transposes are flags, never copies).
 */
import type { Tensor } from "../tensor.js";
import type { MatmulActivation } from "./kernels/epilogue.js";
import type { MatmulOptions } from "./plan.js";
import { matmulKernel } from "./run.js";

/**
 * Gradients of C = act(alpha·op(A)·op(B) + bias) + residual w.r.t. [A, B, bias, residual], from the
 * operands the product was computed with (f32) and the saved pre-activation (consumed here).
 */
export function matmulBackward(
  g: Tensor,
  a: Tensor,
  b: Tensor,
  pre: Tensor | null,
  opts: MatmulOptions,
  need: { a: boolean; b: boolean },
): Array<Tensor | null> {
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const alpha = opts.alpha ?? 1;
  const { bias, residual } = opts;
  // Through the activation first: gz = g ⊙ act'(pre).
  let gz = g;
  if (pre) {
    gz = activationGrad(opts.activation ?? "none", g, pre);
    pre.dispose();
  }
  let da: Tensor | null = null;
  let db: Tensor | null = null;
  if (need.a) {
    da = transA
      ? matmulKernel(b, gz, { transA: transB, transB: true, alpha })
      : matmulKernel(gz, b, { transB: !transB, alpha });
    da = fitTo(da, a.shape);
  }
  if (need.b) {
    if (b.rank === 2 && a.rank > 2 && !transA) {
      // B was shared across A's folded batch: one GEMM over the flattened rows.
      const a2 = a.view([a.numel / a.shape[a.rank - 1]!, a.shape[a.rank - 1]!]);
      const g2 = gz.view([gz.numel / gz.shape[gz.rank - 1]!, gz.shape[gz.rank - 1]!]);
      db = transB
        ? matmulKernel(g2, a2, { transA: true, alpha })
        : matmulKernel(a2, g2, { transA: true, alpha });
      a2.dispose();
      g2.dispose();
    } else {
      db = transB
        ? matmulKernel(gz, a, { transA: true, transB: transA, alpha })
        : matmulKernel(a, gz, { transA: !transA, alpha });
      db = fitTo(db, b.shape);
    }
  }
  const dbias = bias?.requiresGrad ? sumTo(gz, bias.shape) : null;
  if (gz !== g) gz.dispose();
  // The residual's gradient is the incoming one unchanged (autograd copies it if it is shared).
  const dres = residual?.requiresGrad ? g : null;
  return [da, db, dbias, dres];
}

function activationGrad(act: MatmulActivation, g: Tensor, pre: Tensor): Tensor {
  switch (act) {
    case "gelu":
      return elementwise("gelu_grad", [g, pre], "a * gelu_erf_grad(b)");
    case "gelu_tanh":
      return elementwise("gelu_tanh_grad", [g, pre], "a * gelu_tanh_grad(b)");
    case "relu":
      return elementwise("relu_grad", [g, pre], "select(0.0, a, b > 0.0)");
    case "none":
      return g;
  }
}

/** Reduces a batched gradient to an operand that was broadcast over the batch; reshapes folded ones. */
function fitTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.numel === shape.reduce((x, y) => x * y, 1)) {
    if (g.shape.join() === shape.join()) return g;
    const v = g.view(shape);
    g.dispose();
    return v;
  }
  const r = sumTo(g, shape);
  g.dispose();
  return r;
}
