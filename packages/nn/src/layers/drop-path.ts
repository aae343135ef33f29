/**
 * Stochastic depth (timm's DropPath, Megatron's DropPath): in training, each sample's residual branch is
 * dropped with probability p and kept samples are scaled by 1/(1−p), so the expectation is unchanged. The
 * mask is one draw per sample (shape [B, 1, …, 1]), from the device's Philox stream like dropout, so
 * activation checkpointing replays it. Identity in eval mode or when p = 0 (no draw is made then).
 */
import { type Tensor, dropout, mul, noGrad, ones } from "@vit/tensor";
import { Module } from "../module.js";

export class DropPath extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`DropPath: probability ${p} must be in [0, 1).`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const shape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
    // dropout of ones: 0 with probability p, else 1/(1−p) — the per-sample mask, a constant for autograd.
    const mask = noGrad(() => dropout(ones(x.device, shape, { dtype: x.dtype }), this.p, true));
    return mul(x, mask);
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}
