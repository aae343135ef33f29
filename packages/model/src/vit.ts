/**
 * The Vision Transformer, readable in one file as timm's vision_transformer.py: patch embedding,
 * class tokens, learned position embeddings, pre-LN encoder, final LayerNorm, head on token 0.
 *
 * `style: nemo` reproduces Megatron/NeMo's VitBackbone + VitClassificationModel (8 zero-initialised
 * class tokens, Linear patch embedding over (p1 p2 c), eps 1e-5, output projections initialised with
 * σ/√(2L), MLP-tanh pretraining head with output bias −10 or a zero-initialised fine-tuning head);
 * `style: timm` reproduces timm/torchvision/HF (1 class token, eps 1e-6, trunc-normal init, linear head).
 * Foreign checkpoints are mapped by weights.ts; this file never learns about other formats.
 */
import {
  type AttentionFn,
  Dropout,
  type Init,
  LayerNorm,
  Linear,
  Module,
  Sequential,
  TransformerLayer,
  type TransformerLayerOptions,
  constant,
  normal,
  scaledNormal,
  truncNormal,
  zerosInit,
} from "@vit/nn";
import {
  type Device,
  ShapeError,
  type Tensor,
  add,
  checkpoint,
  concat,
  expand,
  patchify,
  reshape,
  slice,
  tanh,
} from "@vit/tensor";
import {
  type ActivationCheckpointing,
  type Segment,
  checkpointSegments,
  withAttentionRecomputed,
} from "./checkpointing.js";
import { type ViTConfig, dropPathRates, gridSize, sequenceLength } from "./config.js";

export interface ViTOptions {
  attentionFn?: AttentionFn;
  checkpointing?: ActivationCheckpointing | null;
}

/** Linear patch embedding over each patch flattened as (p1 p2 c) — NeMo's linear_encoder. */
export class PatchEmbed extends Module {
  readonly proj: Linear;
  constructor(
    device: Device,
    readonly patch: number,
    channels: number,
    dim: number,
    init: Init,
  ) {
    super();
    this.proj = this.registerModule("proj", new Linear(device, patch * patch * channels, dim, { init }));
  }
  /** [B, C, H, W] → [B, N, D]. */
  forward(x: Tensor): Tensor {
    return this.proj.forward(patchify(x, this.patch, "p1 p2 c"));
  }
}

/** NeMo's pretraining pre-logits: Linear(h→h) → tanh. */
export class PreLogits extends Module {
  readonly fc: Linear;
  constructor(device: Device, dim: number, init: Init) {
    super();
    this.fc = this.registerModule("fc", new Linear(device, dim, dim, { init }));
  }
  forward(x: Tensor): Tensor {
    return tanh(this.fc.forward(x));
  }
}

/** Megatron/NeMo's init (normal) or timm's (trunc-normal); output projections get σ/√(2L) when scaled. */
export function vitInit(c: ViTConfig): { init: Init; outInit: Init } {
  const nemo = c.style === "nemo";
  const std = c.init_method_std;
  const init: Init = nemo ? (d, s) => normal(d, s, std) : (d, s) => truncNormal(d, s, std);
  // Megatron's scaled_init_method_normal: output projections (attn.proj, mlp.fc2) get σ/√(2L).
  const outInit: Init = !c.use_scaled_init_method
    ? init
    : nemo
      ? (d, s) => scaledNormal(d, s, std, c.num_layers)
      : (d, s) => truncNormal(d, s, std / Math.sqrt(2 * c.num_layers));
  return { init, outInit };
}

/** An encoder layer of either encoder: a module with a pluggable attention core. */
export type EncoderLayer = Module & { attn: { attentionFn: AttentionFn } };

/** How an encoder builds its layers (from the shared per-layer options) and holds them as `blocks`. */
export interface EncoderParts<L extends EncoderLayer, B extends Module> {
  layer: (o: TransformerLayerOptions) => L;
  blocks: (layers: L[]) => B;
}

/**
 * Everything both ViTs share: the embedding (patch_embed, class tokens, pos_embed, dropout), the head
 * (norm, pre_logits, head), the init rules and the per-layer options, in the order that fixes parameter
 * names and the RNG draws of initialisation. Subclasses supply the encoder layer and run the blocks:
 * VisionTransformer synchronously, TensorParallelViT awaiting collectives.
 */
export abstract class ViTBase<L extends EncoderLayer, B extends Module> extends Module {
  readonly patch_embed: PatchEmbed;
  readonly cls_token: Tensor;
  readonly pos_embed: Tensor;
  readonly pos_drop: Dropout;
  readonly blocks: B;
  readonly norm: LayerNorm;
  readonly pre_logits: PreLogits | null;
  readonly head: Linear;
  checkpointing: ActivationCheckpointing | null;
  /** The encoder layers in order (the children of `blocks`). */
  protected readonly layers: L[];

  protected constructor(
    readonly device: Device,
    readonly config: ViTConfig,
    encoder: EncoderParts<L, B>,
    opts: ViTOptions,
  ) {
    super();
    const c = config;
    const D = c.hidden_size;
    const nemo = c.style === "nemo";
    const { init, outInit } = vitInit(c);
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
    this.layers = Array.from({ length: c.num_layers }, (_, i) =>
      encoder.layer({
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
        ...(opts.attentionFn ? { attentionFn: opts.attentionFn } : {}),
      }),
    );
    this.blocks = this.registerModule("blocks", encoder.blocks(this.layers));
    this.norm = this.registerModule("norm", new LayerNorm(device, D, c.layernorm_epsilon));
    this.pre_logits =
      c.head_type === "mlp_tanh" ? this.registerModule("pre_logits", new PreLogits(device, D, init)) : null;
    const headInit: Init = c.head_type === "linear" && nemo ? zerosInit : init;
    const headBias: Init = c.head_type === "mlp_tanh" ? (d, s) => constant(d, s, -10) : zerosInit;
    this.head = this.registerModule(
      "head",
      new Linear(device, D, c.num_classes, { init: headInit, biasInit: headBias }),
    );
    this.checkpointing = opts.checkpointing ?? null;
    this.nameParameters();
  }

  /** Sets the attention implementation of every layer (naive or flash). */
  setAttention(fn: AttentionFn): void {
    for (const l of this.layers) l.attn.attentionFn = fn;
  }

  /** The encoder's input: patch embeddings after the class tokens, plus positions, dropout: [B, S, D]. */
  protected embed(images: Tensor): Tensor {
    const c = this.config;
    if (
      images.rank !== 4 ||
      images.shape[1] !== c.num_channels ||
      images.shape[2] !== c.img_h ||
      images.shape[3] !== c.img_w
    ) {
      throw new ShapeError(
        `${this.constructor.name}: images [${images.shape}] do not match the config: expected [batch, ${c.num_channels}, ${c.img_h}, ${c.img_w}] ` +
          "(NCHW). Resize the input, or build the model for this resolution (fine-tuning resamples the position embeddings).",
      );
    }
    const B = images.shape[0]!;
    const patches = this.patch_embed.forward(images);
    const cls = expand(this.cls_token, [B, c.class_token_length, c.hidden_size]);
    return this.pos_drop.forward(add(concat([cls, patches], 1), this.pos_embed));
  }

  /** Logits [B, num_classes] from the first class token of the encoder's output features. */
  protected classify(feats: Tensor): Tensor {
    const B = feats.shape[0]!;
    let t = reshape(slice(feats, 1, 0, 1), [B, this.config.hidden_size]);
    if (this.pre_logits) t = this.pre_logits.forward(t);
    return this.head.forward(t);
  }

  /** The checkpointing schedule of the encoder in the current mode. */
  protected segments(): Segment[] {
    return checkpointSegments(this.checkpointing, this.layers.length, this.training);
  }

  override extraRepr(): string {
    const [gh, gw] = gridSize(this.config);
    return `style=${this.config.style}, grid=${gh}×${gw}, seq=${sequenceLength(this.config)}`;
  }
}

export class VisionTransformer extends ViTBase<TransformerLayer, Sequential> {
  constructor(device: Device, config: ViTConfig, opts: ViTOptions = {}) {
    super(
      device,
      config,
      { layer: (o) => new TransformerLayer(device, o), blocks: (ls) => new Sequential(...ls) },
      opts,
    );
  }

  /** Encoder output after the final LayerNorm: [B, S, D]. */
  forwardFeatures(images: Tensor): Tensor {
    let h = this.embed(images);
    for (const s of this.segments()) {
      const run = (x: Tensor) => {
        let y = x;
        for (const l of this.layers.slice(s.from, s.to))
          y =
            s.recompute === "attention" ? withAttentionRecomputed(l.attn, () => l.forward(y)) : l.forward(y);
        return y;
      };
      h = s.recompute === "layers" ? checkpoint(run, h) : run(h);
    }
    return this.norm.forward(h);
  }

  /** Logits [B, num_classes] from the first class token. */
  forward(images: Tensor): Tensor {
    return this.classify(this.forwardFeatures(images));
  }
}
