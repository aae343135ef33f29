/**
 * Scaled dot-product attention, softmax(Q·Kᵀ·scale)·V with optional attention dropout, composed from
 * matmul/softmax/dropout. It materialises the S×S scores; the flash kernel (flash-attention.ts) is the
 * memory-efficient replacement with the same signature.
 */
import { ShapeError, fmtShape } from "../errors.js";
import { matmul } from "../matmul/dispatch.js";
import type { Tensor } from "../tensor.js";
import { dropout } from "./dropout.js";
import { softmax } from "./softmax.js";

export interface AttentionOptions {
  /** Defaults to 1/sqrt(head_dim). */
  scale?: number;
  dropout?: number;
  training?: boolean;
}

export function checkAttentionShapes(q: Tensor, k: Tensor, v: Tensor): void {
  const ok =
    q.rank === 4 &&
    k.rank === 4 &&
    v.rank === 4 &&
    q.shape[0] === k.shape[0] &&
    q.shape[1] === k.shape[1] &&
    q.shape[3] === k.shape[3] &&
    k.shape.join() === v.shape.join() &&
    q.shape[0] === v.shape[0];
  if (!ok) {
    throw new ShapeError(
      `attention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} must be [batch, heads, seq, head_dim] ` +
        "with equal batch/heads, q and k sharing head_dim, and k, v equal.",
    );
  }
}

/** q, k, v: [batch, heads, seq, head_dim] → [batch, heads, seq_q, head_dim]. */
export function attentionNaive(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  checkAttentionShapes(q, k, v);
  const scale = opts.scale ?? 1 / Math.sqrt(q.shape[3]!);
  const s = matmul(q, k, { transB: true, alpha: scale });
  const p = softmax(s);
  const pd = dropout(p, opts.dropout ?? 0, opts.training ?? true);
  const o = matmul(pd, v);
  // Free the S×S intermediates now when no graph holds them (inference); otherwise backward needs them.
  if (!o.requiresGrad) {
    s.dispose();
    p.dispose();
    if (pd !== p) pd.dispose();
  }
  return o;
}
