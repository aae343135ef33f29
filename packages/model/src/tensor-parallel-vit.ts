/**
 * The ViT with a tensor-parallel encoder (NeMo's ParallelTransformer inside VitBackbone): ViTBase's
 * embedding, head, init and checkpoint schedule, with Megatron's split layers. qkv is column-parallel
 * and rank r holds whole heads [r·H/p, (r+1)·H/p) of q, of k and of v (stride 3: timm's q|k|v layout
 * within the shard), so attention runs on local heads; proj is row-parallel; fc1 column-, fc2
 * row-parallel. Everything else (embeddings, norms, residuals, hidden dropout, drop path, head) acts on
 * the full hidden state, replicated on every rank with masks from the default stream; attention dropout
 * draws from the rank's model-parallel stream. The layers declare their splits, so
 * tensorParallelLayout(model) drives split/merge of state dicts and the clipped norm.
 *
 * Every rank runs forward on the same images and gets the same logits. forward is async (the
 * row-parallel reductions wait for the other ranks); backward goes through backwardAsync.
 */
import { DropPath, Dropout, GELU, LayerNorm, Module, type TransformerLayerOptions } from "@vit/nn";
import {
  ColumnParallelLinear,
  ModelParallelRng,
  ParallelConfigError,
  type ProcessGroup,
  RowParallelLinear,
  checkpointAsync,
  divide,
} from "@vit/parallel";
import { type Device, type Tensor, add, attentionNaive, packedAttention } from "@vit/tensor";
import type { ViTConfig } from "./config.js";
import { ViTBase, type ViTOptions } from "./vit.js";

export type ParallelLayerOptions = TransformerLayerOptions & { headDim: number; rng: ModelParallelRng };

export class ParallelAttention extends Module {
  readonly qkv: ColumnParallelLinear;
  readonly proj: RowParallelLinear;
  readonly localHeads: number;
  attentionFn: NonNullable<TransformerLayerOptions["attentionFn"]>;

  constructor(
    private readonly device: Device,
    group: ProcessGroup,
    private readonly o: ParallelLayerOptions,
  ) {
    super();
    this.localHeads = divide(o.heads, group.worldSize, "ParallelAttention heads");
    const width = o.heads * o.headDim;
    const bias = o.qkvBias ?? true;
    this.qkv = this.registerModule(
      "qkv",
      new ColumnParallelLinear(device, group, o.dim, 3 * width, {
        bias,
        stride: 3,
        rng: o.rng,
        ...(o.init ? { init: o.init } : {}),
      }),
    );
    this.proj = this.registerModule(
      "proj",
      new RowParallelLinear(device, group, width, o.dim, {
        rng: o.rng,
        ...(o.outInit ? { init: o.outInit } : {}),
      }),
    );
    this.attentionFn = o.attentionFn ?? attentionNaive;
  }

  /** x: [B, S, D] replicated → [B, S, D] replicated. */
  async forward(x: Tensor): Promise<Tensor> {
    const qkv = await this.qkv.forward(x);
    const opts = { dropout: this.o.attentionDropout ?? 0, training: this.training };
    const merged = this.o.rng.fork(this.device, () =>
      packedAttention(qkv, this.localHeads, this.o.headDim, this.attentionFn, opts),
    );
    return this.proj.forward(merged);
  }
}

export class ParallelMLP extends Module {
  readonly fc1: ColumnParallelLinear;
  readonly act: GELU;
  readonly fc2: RowParallelLinear;

  constructor(device: Device, group: ProcessGroup, o: ParallelLayerOptions) {
    super();
    this.fc1 = this.registerModule(
      "fc1",
      new ColumnParallelLinear(device, group, o.dim, o.ffn, {
        rng: o.rng,
        ...(o.init ? { init: o.init } : {}),
      }),
    );
    this.act = this.registerModule("act", new GELU(o.activation ?? "none"));
    this.fc2 = this.registerModule(
      "fc2",
      new RowParallelLinear(device, group, o.ffn, o.dim, {
        rng: o.rng,
        ...(o.outInit ? { init: o.outInit } : {}),
      }),
    );
  }

  async forward(x: Tensor): Promise<Tensor> {
    return this.fc2.forward(this.act.forward(await this.fc1.forward(x)));
  }
}

/** @vit/nn's pre-LN TransformerLayer with the same parameter names, over the split attention and MLP. */
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
    this.attn = this.registerModule("attn", new ParallelAttention(device, group, o));
    this.norm2 = this.registerModule("norm2", new LayerNorm(device, o.dim, o.eps ?? 1e-5));
    this.mlp = this.registerModule("mlp", new ParallelMLP(device, group, o));
    this.drop = this.registerModule("drop", new Dropout(o.hiddenDropout ?? 0));
    this.drop_path = this.registerModule("drop_path", new DropPath(o.dropPath ?? 0));
  }

  async forward(x: Tensor): Promise<Tensor> {
    const branch = (y: Tensor) => this.drop_path.forward(this.drop.forward(y));
    const h = add(x, branch(await this.attn.forward(this.norm1.forward(x))));
    return add(h, branch(await this.mlp.forward(this.norm2.forward(h))));
  }
}

/** Children "0".."L-1" like Sequential, for layers whose forward is async (run by TensorParallelViT). */
export class ParallelBlocks extends Module {
  constructor(readonly layers: ParallelTransformerLayer[]) {
    super();
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }
  get length(): number {
    return this.layers.length;
  }
  at(i: number): ParallelTransformerLayer {
    return this.layers[i]!;
  }
}

export interface TensorParallelViTOptions extends ViTOptions {
  /** This rank's model-parallel stream (default: seed device.rng.seed + 2718 + rank). */
  rng?: ModelParallelRng;
}

export class TensorParallelViT extends ViTBase<ParallelTransformerLayer, ParallelBlocks> {
  readonly rng: ModelParallelRng;
  readonly group: ProcessGroup;

  constructor(device: Device, config: ViTConfig, group: ProcessGroup, opts: TensorParallelViTOptions = {}) {
    if (opts.checkpointing?.granularity === "selective") {
      throw new ParallelConfigError(
        "TensorParallelViT: activation checkpointing granularity=selective is not supported with tensor parallelism " +
          "(the attention core runs inside the split layers)",
        { hint: "use granularity 'full' (model.activations_checkpoint_granularity=full)" },
      );
    }
    const rng = opts.rng ?? ModelParallelRng.forRank(device.rng.seed, group.rank);
    const layer = (o: TransformerLayerOptions) =>
      new ParallelTransformerLayer(device, group, { ...o, headDim: o.headDim!, rng });
    super(device, config, { layer, blocks: (ls) => new ParallelBlocks(ls) }, opts);
    this.rng = rng;
    this.group = group;
  }

  /** Encoder output after the final LayerNorm: [B, S, D], replicated on every rank. */
  async forwardFeatures(images: Tensor): Promise<Tensor> {
    let h = this.embed(images);
    for (const s of this.segments()) {
      const run = async (x: Tensor) => {
        let y = x;
        for (const l of this.layers.slice(s.from, s.to)) y = await l.forward(y);
        return y;
      };
      h = s.recompute === "layers" ? await checkpointAsync(run, [this.rng], h) : await run(h);
    }
    return this.norm.forward(h);
  }

  /** Logits [B, num_classes] from the first class token, replicated on every rank. */
  async forward(images: Tensor): Promise<Tensor> {
    return this.classify(await this.forwardFeatures(images));
  }

  override extraRepr(): string {
    return `style=${this.config.style}, tensor-parallel rank ${this.group.rank}/${this.group.worldSize}`;
  }
}
