import {
  type ActivationCheckpointing,
  PatchEmbed,
  PreLogits,
  type ViTConfig,
  type ViTOptions,
  dropPathRates,
  sequenceLength,
} from "@vit/model";
/**
 * The Vision Transformer with a tensor-parallel encoder (NeMo's ParallelTransformer inside VitBackbone):
 * the same structure, initialisation and parameter names as @vit/model's VisionTransformer, with
 * ParallelTransformerLayer blocks. Patch/position embeddings, class tokens, the final LayerNorm and the
 * head are replicated on every tensor-parallel rank, as in Megatron's ViT. Split weights have per-rank
 * shapes; splitTensorParallelStateDict / mergeTensorParallelStateDicts convert to and from the
 * single-device model's state dict.
 *
 * Every rank runs forward on the same images (tensor parallelism splits the model, not the batch) and
 * gets the same logits. forward is async; backward goes through backwardAsync.
 */
import {
  Dropout,
  type Init,
  LayerNorm,
  Linear,
  Module,
  constant,
  normal,
  scaledNormal,
  truncNormal,
  zerosInit,
} from "@vit/nn";
import { type Device, ShapeError, type Tensor, add, concat, expand, reshape, slice } from "@vit/tensor";
import type { ProcessGroup } from "../process-group.js";
import { checkpointAsync } from "./checkpoint.js";
import { ModelParallelRng } from "./random.js";
import { ParallelTransformerLayer } from "./transformer.js";

export interface TensorParallelViTOptions {
  attentionFn?: ViTOptions["attentionFn"];
  /** This rank's model-parallel stream (default: seed device.rng.seed + 2718 + rank). */
  rng?: ModelParallelRng;
  /**
   * NeMo's activation checkpointing over whole layers ('full' granularity): 'uniform' recomputes groups of
   * num_layers layers, 'block' the first num_layers layers. 'selective' is not supported here.
   */
  checkpointing?: ActivationCheckpointing | null;
}

/** Children "0".."L-1" like Sequential, for layers whose forward is async; optionally checkpointed. */
class ParallelBlocks extends Module {
  constructor(
    readonly layers: ParallelTransformerLayer[],
    private readonly checkpointing: ActivationCheckpointing | null,
    private readonly rng: ModelParallelRng,
  ) {
    super();
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }

  private async run(h: Tensor, from: number, to: number): Promise<Tensor> {
    for (let i = from; i < to; i++) h = await this.layers[i]!.forward(h);
    return h;
  }

  async forward(x: Tensor): Promise<Tensor> {
    const ck = this.checkpointing;
    const L = this.layers.length;
    if (!ck || ck.num_layers <= 0) return this.run(x, 0, L);
    let h = x;
    if (ck.method === "block") {
      for (let i = 0; i < L; i++) {
        h =
          i < ck.num_layers
            ? await checkpointAsync((t) => this.run(t, i, i + 1), [this.rng], h)
            : await this.run(h, i, i + 1);
      }
      return h;
    }
    for (let i = 0; i < L; i += ck.num_layers) {
      const end = Math.min(L, i + ck.num_layers);
      h = await checkpointAsync((t) => this.run(t, i, end), [this.rng], h);
    }
    return h;
  }
}

export class TensorParallelViT extends Module {
  readonly patch_embed: PatchEmbed;
  readonly cls_token: Tensor;
  readonly pos_embed: Tensor;
  readonly pos_drop: Dropout;
  readonly blocks: ParallelBlocks;
  readonly norm: LayerNorm;
  readonly pre_logits: PreLogits | null;
  readonly head: Linear;
  readonly rng: ModelParallelRng;

  constructor(
    readonly device: Device,
    readonly config: ViTConfig,
    readonly group: ProcessGroup,
    opts: TensorParallelViTOptions = {},
  ) {
    super();
    const c = config;
    const D = c.hidden_size;
    const nemo = c.style === "nemo";
    const std = c.init_method_std;
    const init: Init = nemo ? (d, s) => normal(d, s, std) : (d, s) => truncNormal(d, s, std);
    // As VisionTransformer: Megatron's scaled init for the output projections when use_scaled_init_method.
    const outInit: Init = !c.use_scaled_init_method
      ? init
      : nemo
        ? (d, s) => scaledNormal(d, s, std, c.num_layers)
        : (d, s) => truncNormal(d, s, std / Math.sqrt(2 * c.num_layers));
    this.rng = opts.rng ?? ModelParallelRng.forRank(device.rng.seed, group.rank);
    this.patch_embed = this.registerModule(
      "patch_embed",
      new PatchEmbed(device, c.patch_dim, c.num_channels, D, init),
    );
    this.cls_token = this.registerParameter(
      "cls_token",
      nemo
        ? zerosInit(device, [1, c.class_token_length, D])
        : normal(device, [1, c.class_token_length, D], 1e-6),
    );
    this.pos_embed = this.registerParameter(
      "pos_embed",
      (nemo ? normal : truncNormal)(device, [1, sequenceLength(c), D], 0.02),
    );
    this.pos_drop = this.registerModule("pos_drop", new Dropout(c.hidden_dropout));
    const dpr = dropPathRates(c);
    const layers = Array.from(
      { length: c.num_layers },
      (_, i) =>
        new ParallelTransformerLayer(device, group, {
          dim: D,
          heads: c.num_attention_heads,
          headDim: c.kv_channels,
          ffn: c.ffn_hidden_size,
          eps: c.layernorm_epsilon,
          hiddenDropout: c.hidden_dropout,
          attentionDropout: c.attention_dropout,
          dropPath: dpr[i]!,
          activation: c.activation === "gelu_tanh" ? "tanh" : "none",
          qkvBias: c.qkv_bias,
          init,
          outInit,
          rng: this.rng,
          ...(opts.attentionFn ? { attentionFn: opts.attentionFn } : {}),
        }),
    );
    if (opts.checkpointing?.granularity === "selective") {
      throw new ShapeError(
        "TensorParallelViT: selective activation checkpointing (the attention core only) is not supported with tensor " +
          "parallelism; use granularity 'full'.",
      );
    }
    this.blocks = this.registerModule(
      "blocks",
      new ParallelBlocks(layers, opts.checkpointing ?? null, this.rng),
    );
    this.norm = this.registerModule("norm", new LayerNorm(device, D, c.layernorm_epsilon));
    this.pre_logits =
      c.head_type === "mlp_tanh" ? this.registerModule("pre_logits", new PreLogits(device, D, init)) : null;
    const headInit: Init = c.head_type === "linear" && nemo ? zerosInit : init;
    const headBias: Init = c.head_type === "mlp_tanh" ? (d, s) => constant(d, s, -10) : zerosInit;
    this.head = this.registerModule(
      "head",
      new Linear(device, D, c.num_classes, { init: headInit, biasInit: headBias }),
    );
    this.nameParameters();
  }

  /** Sets the attention implementation of every layer (naive or flash), as VisionTransformer.setAttention. */
  setAttention(fn: NonNullable<ViTOptions["attentionFn"]>): void {
    for (const l of this.blocks.layers) l.attn.attentionFn = fn;
  }

  /** Encoder output after the final LayerNorm: [B, S, D], replicated on every rank. */
  async forwardFeatures(images: Tensor): Promise<Tensor> {
    const c = this.config;
    if (
      images.rank !== 4 ||
      images.shape[1] !== c.num_channels ||
      images.shape[2] !== c.img_h ||
      images.shape[3] !== c.img_w
    ) {
      throw new ShapeError(
        `TensorParallelViT: images [${images.shape}] do not match the config: expected [batch, ${c.num_channels}, ${c.img_h}, ${c.img_w}].`,
      );
    }
    const B = images.shape[0]!;
    const patches = this.patch_embed.forward(images);
    const cls = expand(this.cls_token, [B, c.class_token_length, c.hidden_size]);
    const h = this.pos_drop.forward(add(concat([cls, patches], 1), this.pos_embed));
    return this.norm.forward(await this.blocks.forward(h));
  }

  /** Logits [B, num_classes] from the first class token, replicated on every rank. */
  async forward(images: Tensor): Promise<Tensor> {
    const feats = await this.forwardFeatures(images);
    const B = feats.shape[0]!;
    let t = reshape(slice(feats, 1, 0, 1), [B, this.config.hidden_size]);
    if (this.pre_logits) t = this.pre_logits.forward(t);
    return this.head.forward(t);
  }

  override extraRepr(): string {
    return `style=${this.config.style}, tensor-parallel rank ${this.group.rank}/${this.group.worldSize}`;
  }
}
