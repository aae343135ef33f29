/** Shared test utilities: comparisons, a tiny transformer classifier, host batches. */
import { LayerNorm, Linear, Module, Sequential, TransformerLayer, normal } from "@vit/nn";
import { type Device, type Tensor, add, patchify, reshape, slice } from "@vit/tensor";

/** max|a − b| / max|b| (0 when both are zero). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths ${a.length} vs ${b.length}`);
  let n = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    n = Math.max(n, Math.abs(a[i]! - b[i]!));
    d = Math.max(d, Math.abs(b[i]!));
  }
  return d === 0 ? n : n / d;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) n = Math.max(n, Math.abs(a[i]! - b[i]!));
  return n;
}

export interface TinyNetConfig {
  img: number;
  channels: number;
  patch: number;
  hidden: number;
  ffn: number;
  heads: number;
  layers: number;
  classes: number;
  hidden_dropout: number;
  attention_dropout: number;
}

/** A config small enough to run a few steps in well under a second on lavapipe. */
export function tinyNet(over: Partial<TinyNetConfig> = {}): TinyNetConfig {
  return {
    img: 8,
    channels: 3,
    patch: 4,
    hidden: 32,
    ffn: 64,
    heads: 4,
    layers: 2,
    classes: 5,
    hidden_dropout: 0,
    attention_dropout: 0,
    ...over,
  };
}

/**
 * A small transformer classifier from @vit/nn's layers (patch embedding, position embedding, pre-LN
 * layers with dropout, final norm, head on token 0): the strategies here are tested on a real model
 * with attention, norms and dropout. The ViT itself lives above this package, in @vit/model.
 */
export class TinyNet extends Module {
  readonly embed: Linear;
  readonly pos_embed: Tensor;
  readonly blocks: Sequential;
  readonly norm: LayerNorm;
  readonly head: Linear;

  constructor(
    dev: Device,
    readonly cfg: TinyNetConfig,
  ) {
    super();
    const c = cfg;
    this.embed = this.registerModule("embed", new Linear(dev, c.patch * c.patch * c.channels, c.hidden));
    this.pos_embed = this.registerParameter(
      "pos_embed",
      normal(dev, [1, (c.img / c.patch) ** 2, c.hidden], 0.02),
    );
    const layer = () =>
      new TransformerLayer(dev, {
        dim: c.hidden,
        heads: c.heads,
        ffn: c.ffn,
        hiddenDropout: c.hidden_dropout,
        attentionDropout: c.attention_dropout,
      });
    this.blocks = this.registerModule("blocks", new Sequential(...Array.from({ length: c.layers }, layer)));
    this.norm = this.registerModule("norm", new LayerNorm(dev, c.hidden));
    this.head = this.registerModule("head", new Linear(dev, c.hidden, c.classes));
    this.nameParameters();
  }

  /** [B, C, H, W] → logits [B, classes]. */
  forward(images: Tensor): Tensor {
    const B = images.shape[0]!;
    const h = this.blocks.forward(
      add(this.embed.forward(patchify(images, this.cfg.patch, "p1 p2 c")), this.pos_embed),
    );
    return this.head.forward(reshape(slice(this.norm.forward(h), 1, 0, 1), [B, this.cfg.hidden]));
  }
}

/** Deterministic pseudo-random host values in [-1, 1). */
export function hostRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Every parameter's gradient, read back, by name. */
export async function gradsOf(m: Module): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [n, p] of m.namedParameters()) {
    if (!p.grad) throw new Error(`no grad for ${n}`);
    out[n] = Float32Array.from((await p.grad.data()) as Float32Array);
  }
  return out;
}

export async function paramsOf(m: Module): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [n, p] of m.namedParameters()) out[n] = Float32Array.from((await p.data()) as Float32Array);
  return out;
}
