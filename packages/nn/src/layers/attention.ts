/**
 * Multi-head self-attention with one fused qkv projection (timm's layout: q, k, v stacked along the
 * output features). The attention itself is a pluggable function so the flash kernel can replace the
 * naive one without touching the module (and tensor-parallel variants can reuse the module).
 */
import {
  type AttentionFn,
  type Device,
  ShapeError,
  type Tensor,
  attentionNaive,
  packedAttention,
} from "@vit/tensor";
import type { Init } from "../init.js";
import { Module } from "../module.js";
import { Linear } from "./linear.js";

export interface AttentionModuleOptions {
  /**
   * Width of each head (Megatron's kv_channels); default dim / numHeads. The q, k, v projections are
   * numHeads × headDim wide and the output projection maps that width back to dim.
   */
  headDim?: number;
  qkvBias?: boolean;
  attentionDropout?: number;
  init?: Init;
  outInit?: Init;
  attentionFn?: AttentionFn;
}

export class MultiHeadAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  /** numHeads × headDim: the width of q, k, v and of the output projection's input. */
  readonly width: number;
  attentionFn: AttentionFn;
  readonly attentionDropout: number;

  constructor(
    device: Device,
    readonly dim: number,
    readonly numHeads: number,
    opts: AttentionModuleOptions = {},
  ) {
    super();
    if (opts.headDim === undefined && dim % numHeads) {
      throw new ShapeError(`MultiHeadAttention: hidden size ${dim} is not divisible by ${numHeads} heads`, {
        hint: "choose a number of heads that divides the hidden size, or pass headDim (kv_channels)",
      });
    }
    this.headDim = opts.headDim ?? dim / numHeads;
    this.width = numHeads * this.headDim;
    this.qkv = this.registerModule(
      "qkv",
      new Linear(device, dim, 3 * this.width, {
        bias: opts.qkvBias ?? true,
        ...(opts.init ? { init: opts.init } : {}),
      }),
    );
    this.proj = this.registerModule(
      "proj",
      new Linear(device, this.width, dim, opts.outInit ? { init: opts.outInit } : {}),
    );
    this.attentionFn = opts.attentionFn ?? attentionNaive;
    this.attentionDropout = opts.attentionDropout ?? 0;
  }

  /** x: [B, S, D] → [B, S, D] (+ residual, fused into the output projection). */
  forward(x: Tensor, residual?: Tensor): Tensor {
    const opts = { dropout: this.attentionDropout, training: this.training };
    const merged = packedAttention(this.qkv.forward(x), this.numHeads, this.headDim, this.attentionFn, opts);
    return this.proj.forward(merged, residual ? { residual } : {});
  }

  override extraRepr(): string {
    return `dim=${this.dim}, heads=${this.numHeads}${this.width === this.dim ? "" : `, head_dim=${this.headDim}`}`;
  }
}
