/**
 * Multi-head self-attention with one fused qkv projection (timm's layout: q, k, v stacked along the
 * output features). The attention itself is a pluggable function so the flash kernel can replace the
 * naive one without touching the module (and tensor-parallel variants can reuse the module).
 */
import {
  type AttentionOptions,
  type Device,
  ShapeError,
  type Tensor,
  attentionNaive,
  permute,
  reshape,
  slice,
} from "@vit/tensor";
import type { Init } from "../init.js";
import { Module } from "../module.js";
import { Linear } from "./linear.js";

export type AttentionFn = (q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions) => Tensor;

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

/**
 * The attention core over a fused projection's output: qkv [B, S, 3·H·hd] in timm's q|k|v layout →
 * the heads' outputs merged back to [B, S, H·hd]. Shared by MultiHeadAttention and the tensor-parallel
 * attention of @vit/model (which runs it on its local heads).
 */
export function attendHeads(
  qkv: Tensor,
  H: number,
  hd: number,
  fn: AttentionFn,
  opts: AttentionOptions,
): Tensor {
  const [B, S] = qkv.shape as [number, number, number];
  const heads = permute(reshape(qkv, [B, S, 3, H, hd]), [2, 0, 3, 1, 4]); // [3, B, H, S, hd]
  const q = reshape(slice(heads, 0, 0, 1), [B, H, S, hd]);
  const k = reshape(slice(heads, 0, 1, 1), [B, H, S, hd]);
  const v = reshape(slice(heads, 0, 2, 1), [B, H, S, hd]);
  return reshape(permute(fn(q, k, v, opts), [0, 2, 1, 3]), [B, S, H * hd]);
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
    const merged = attendHeads(this.qkv.forward(x), this.numHeads, this.headDim, this.attentionFn, opts);
    return this.proj.forward(merged, residual ? { residual } : {});
  }

  override extraRepr(): string {
    return `dim=${this.dim}, heads=${this.numHeads}${this.width === this.dim ? "" : `, head_dim=${this.headDim}`}`;
  }
}
