/**
 * The tensor-parallel transformer layer (Megatron's ParallelAttention / ParallelMLP /
 * ParallelTransformerLayer): the same pre-LN block as @vit/nn's TransformerLayer, with the same
 * parameter names, but
 * - attention: qkv is column-parallel and rank r's slice holds whole heads [r·H/p, (r+1)·H/p) of q, of k
 *   and of v (timm's q|k|v layout within the shard), so attention runs on local heads with no
 *   communication; proj is row-parallel.
 * - MLP: fc1 column-parallel, GELU on the local slice, fc2 row-parallel.
 * LayerNorms, residuals, hidden dropout and stochastic depth (drop path) act on the full hidden state,
 * replicated on every rank (and their masks agree, drawn from the default RNG stream in the same order as
 * the single-device layer); attention dropout acts on local heads and draws from the rank's model-parallel
 * stream.
 *
 * forward is async: the row-parallel reductions wait for the other ranks.
 */
import {
  type AttentionFn,
  DropPath,
  Dropout,
  GELU,
  type GELUApproximate,
  type Init,
  LayerNorm,
  Module,
} from "@vit/nn";
import { type Device, ShapeError, type Tensor, add, attentionNaive, permute, reshape, slice } from "@vit/tensor";
import type { ProcessGroup } from "../process-group.js";
import { ColumnParallelLinear, RowParallelLinear } from "./layers.js";
import type { ModelParallelRng } from "./random.js";
import { divide } from "./utils.js";

export interface ParallelLayerOptions {
  dim: number;
  heads: number;
  ffn: number;
  eps?: number;
  hiddenDropout?: number;
  attentionDropout?: number;
  /** Stochastic depth of this layer's residual branches. */
  dropPath?: number;
  /** Width of each attention head (kv_channels); default dim / heads. */
  headDim?: number;
  activation?: GELUApproximate;
  qkvBias?: boolean;
  init?: Init;
  outInit?: Init;
  attentionFn?: AttentionFn;
  /** This rank's model-parallel RNG stream (split-weight init, attention dropout). */
  rng: ModelParallelRng;
}

export class ParallelAttention extends Module {
  readonly qkv: ColumnParallelLinear;
  readonly proj: RowParallelLinear;
  readonly headDim: number;
  /** Heads on this rank. */
  readonly localHeads: number;
  attentionFn: AttentionFn;

  constructor(
    private readonly device: Device,
    readonly group: ProcessGroup,
    readonly dim: number,
    readonly numHeads: number,
    private readonly o: Omit<ParallelLayerOptions, "dim" | "heads" | "ffn">,
  ) {
    super();
    if (o.headDim === undefined && dim % numHeads)
      throw new ShapeError(`ParallelAttention: hidden size ${dim} is not divisible by ${numHeads} heads`, {
        hint: "choose a number of heads that divides the hidden size, or pass headDim (kv_channels)",
      });
    this.headDim = o.headDim ?? dim / numHeads;
    const width = numHeads * this.headDim;
    this.localHeads = divide(numHeads, group.worldSize, "ParallelAttention heads");
    const init = o.init ? { init: o.init } : {};
    this.qkv = this.registerModule(
      "qkv",
      new ColumnParallelLinear(device, group, dim, 3 * width, {
        bias: o.qkvBias ?? true,
        rng: o.rng,
        ...init,
      }),
    );
    this.proj = this.registerModule(
      "proj",
      new RowParallelLinear(device, group, width, dim, {
        rng: o.rng,
        ...(o.outInit ? { init: o.outInit } : {}),
      }),
    );
    this.attentionFn = o.attentionFn ?? attentionNaive;
  }

  /** x: [B, S, D] replicated → [B, S, D] replicated. */
  async forward(x: Tensor): Promise<Tensor> {
    const [B, S] = x.shape as [number, number, number];
    const H = this.localHeads;
    const hd = this.headDim;
    const qkv = reshape(await this.qkv.forward(x), [B, S, 3, H, hd]);
    const heads = permute(qkv, [2, 0, 3, 1, 4]); // [3, B, H, S, hd]
    const q = reshape(slice(heads, 0, 0, 1), [B, H, S, hd]);
    const k = reshape(slice(heads, 0, 1, 1), [B, H, S, hd]);
    const v = reshape(slice(heads, 0, 2, 1), [B, H, S, hd]);
    const o = this.o.rng.fork(this.device, () =>
      this.attentionFn(q, k, v, { dropout: this.o.attentionDropout ?? 0, training: this.training }),
    );
    const merged = reshape(permute(o, [0, 2, 1, 3]), [B, S, H * hd]);
    return this.proj.forward(merged);
  }

  override extraRepr(): string {
    return `dim=${this.dim}, heads=${this.numHeads} (${this.localHeads} on rank ${this.group.rank})`;
  }
}

export class ParallelMLP extends Module {
  readonly fc1: ColumnParallelLinear;
  readonly act: GELU;
  readonly fc2: RowParallelLinear;

  constructor(
    device: Device,
    group: ProcessGroup,
    dim: number,
    hidden: number,
    o: Omit<ParallelLayerOptions, "dim" | "heads" | "ffn">,
  ) {
    super();
    this.fc1 = this.registerModule(
      "fc1",
      new ColumnParallelLinear(device, group, dim, hidden, {
        rng: o.rng,
        ...(o.init ? { init: o.init } : {}),
      }),
    );
    this.act = this.registerModule("act", new GELU(o.activation ?? "none"));
    this.fc2 = this.registerModule(
      "fc2",
      new RowParallelLinear(device, group, hidden, dim, {
        rng: o.rng,
        ...(o.outInit ? { init: o.outInit } : {}),
      }),
    );
  }

  async forward(x: Tensor): Promise<Tensor> {
    return this.fc2.forward(this.act.forward(await this.fc1.forward(x)));
  }
}

export class ParallelTransformerLayer extends Module {
  readonly norm1: LayerNorm;
  readonly attn: ParallelAttention;
  readonly norm2: LayerNorm;
  readonly mlp: ParallelMLP;
  readonly drop: Dropout;
  readonly drop_path: DropPath;

  constructor(device: Device, group: ProcessGroup, o: ParallelLayerOptions) {
    super();
    this.norm1 = this.registerModule("norm1", new LayerNorm(device, o.dim, o.eps ?? 1e-5));
    this.attn = this.registerModule("attn", new ParallelAttention(device, group, o.dim, o.heads, o));
    this.norm2 = this.registerModule("norm2", new LayerNorm(device, o.dim, o.eps ?? 1e-5));
    this.mlp = this.registerModule("mlp", new ParallelMLP(device, group, o.dim, o.ffn, o));
    this.drop = this.registerModule("drop", new Dropout(o.hiddenDropout ?? 0));
    this.drop_path = this.registerModule("drop_path", new DropPath(o.dropPath ?? 0));
  }

  async forward(x: Tensor): Promise<Tensor> {
    const branch = (y: Tensor) => this.drop_path.forward(this.drop.forward(y));
    const h = add(x, branch(await this.attn.forward(this.norm1.forward(x))));
    return add(h, branch(await this.mlp.forward(this.norm2.forward(h))));
  }
}
