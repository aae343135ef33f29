/**
 * Pre-LN transformer layer (Megatron ParallelTransformerLayer / timm Block):
 * x + dropPath(drop(attn(ln1(x)))), then h + dropPath(drop(mlp(ln2(h)))). Each branch draws its own
 * dropout and stochastic-depth masks, as in Megatron (two DropPath calls per layer) and timm.
 */
import { type AttentionFn, type Device, type Tensor, add } from "@vit/tensor";
import type { Init } from "../init.js";
import { Module } from "../module.js";
import { Dropout, type GELUApproximate } from "./activation.js";
import { MultiHeadAttention } from "./attention.js";
import { DropPath } from "./drop-path.js";
import { MLP } from "./mlp.js";
import { LayerNorm } from "./norm.js";

export interface TransformerLayerOptions {
  dim: number;
  heads: number;
  ffn: number;
  eps?: number;
  hiddenDropout?: number;
  attentionDropout?: number;
  /** Stochastic depth of this layer's residual branches (per-sample drop probability). */
  dropPath?: number;
  /** Width of each attention head (kv_channels); default dim / heads. */
  headDim?: number;
  activation?: GELUApproximate;
  qkvBias?: boolean;
  init?: Init;
  outInit?: Init;
  attentionFn?: AttentionFn;
}

export class TransformerLayer extends Module {
  readonly norm1: LayerNorm;
  readonly attn: MultiHeadAttention;
  readonly norm2: LayerNorm;
  readonly mlp: MLP;
  readonly drop: Dropout;
  readonly drop_path: DropPath;

  constructor(device: Device, o: TransformerLayerOptions) {
    super();
    const init = o.init ? { init: o.init } : {};
    const outInit = o.outInit ? { outInit: o.outInit } : {};
    this.norm1 = this.registerModule("norm1", new LayerNorm(device, o.dim, o.eps ?? 1e-5));
    this.attn = this.registerModule(
      "attn",
      new MultiHeadAttention(device, o.dim, o.heads, {
        qkvBias: o.qkvBias ?? true,
        ...(o.headDim !== undefined ? { headDim: o.headDim } : {}),
        attentionDropout: o.attentionDropout ?? 0,
        ...init,
        ...outInit,
        ...(o.attentionFn ? { attentionFn: o.attentionFn } : {}),
      }),
    );
    this.norm2 = this.registerModule("norm2", new LayerNorm(device, o.dim, o.eps ?? 1e-5));
    this.mlp = this.registerModule("mlp", new MLP(device, o.dim, o.ffn, { activation: o.activation ?? "none", ...init, ...outInit }));
    this.drop = this.registerModule("drop", new Dropout(o.hiddenDropout ?? 0));
    this.drop_path = this.registerModule("drop_path", new DropPath(o.dropPath ?? 0));
  }

  forward(x: Tensor): Tensor {
    if (!this.training || (this.drop.p === 0 && this.drop_path.p === 0)) {
      // Nothing between the projection and the residual: fuse the add into the projections' kernels.
      const h = this.attn.forward(this.norm1.forward(x), x);
      return this.mlp.forward(this.norm2.forward(h), h);
    }
    const branch = (y: Tensor) => this.drop_path.forward(this.drop.forward(y));
    const h = add(x, branch(this.attn.forward(this.norm1.forward(x))));
    return add(h, branch(this.mlp.forward(this.norm2.forward(h))));
  }
}
