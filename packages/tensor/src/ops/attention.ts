/**
 * Scaled dot-product attention, softmax(Q·Kᵀ·scale)·V with optional attention dropout, composed from
 * matmul/softmax/dropout. It materialises the S×S scores; the flash kernel (flash-attention.ts) is the
 * memory-efficient replacement with the same signature.
 */
import { needsGrad, record } from "../autograd.js";
import { backwardFrom } from "../backward.js";
import { ShapeError, fmtShape } from "../errors.js";
import { matmul } from "../matmul/dispatch.js";
import type { Tensor } from "../tensor.js";
import { dropout } from "./dropout.js";
import { mergeQKV, permute, reshape, splitQKV } from "./movement.js";
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

export type AttentionFn = (q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions) => Tensor;

/**
 * Attention from a fused q|k|v projection to the merged heads: qkv [B, S, 3·H·hd] → [B, S, H·hd] (timm's
 * Attention.forward between its qkv and proj Linears), with `fn` (attentionNaive or flashAttention) on the
 * heads.
 *
 * Why one node: split as permute + three slices, the heads cost a full-size permute and three copies
 * forward, and backward three full-size zero-padded slice gradients, two full-size adds and a permute (the
 * autograd engine sums the three slices' contributions) — ~8% of a tiny-ViT training step on lavapipe.
 * Here the forward is three strided copies and the backward three strided writes that tile dqkv: q, k, v
 * are the leaves of an inner graph whose gradients this node collects (the pattern of checkpoint.ts).
 */
export function packedAttention(
  qkv: Tensor,
  heads: number,
  headDim: number,
  fn: AttentionFn = attentionNaive,
  opts: AttentionOptions = {},
): Tensor {
  const [B, S] = qkv.shape as [number, number, number];
  const [q, k, v] = splitQKV(qkv, heads, headDim);
  const merge = (o: Tensor) => reshape(permute(o, [0, 2, 1, 3]), [B, S, heads * headDim]);
  if (!needsGrad(qkv)) {
    // Inference: free the heads now (the output is a view of the merged copy, which keeps its storage).
    const o = fn(q, k, v, opts);
    const merged = permute(o, [0, 2, 1, 3]);
    const out = reshape(merged, [B, S, heads * headDim]);
    for (const t of [q, k, v, o, merged]) t.dispose();
    return out;
  }
  for (const t of [q, k, v]) t.requiresGrad = true;
  const inner = merge(fn(q, k, v, opts));
  const out = inner.view(inner.shape);
  return record(out, {
    name: "packed_attention",
    inputs: [qkv],
    backward: (g) => {
      backwardFrom([inner], [g]);
      const grads = [q.grad, k.grad, v.grad];
      for (const t of [q, k, v]) t.grad = null;
      if (grads.some((t) => !t)) {
        // bug, not user input
        throw new Error("internal: packed_attention: q, k or v received no gradient");
      }
      const dqkv = mergeQKV(grads[0]!, grads[1]!, grads[2]!);
      for (const t of grads) t!.dispose();
      return [dqkv];
    },
  });
}
