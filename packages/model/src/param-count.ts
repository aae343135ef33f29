/**
 * The model's parameter layout (names and shapes) and analytical parameter counts.
 *
 * Names are timm's, which the GPU model uses too; the only shape differences from timm are
 * `patch_embed.proj.weight` [D, P·P·C] (a Linear over each patch flattened in (p1 p2 c) order, as
 * NeMo's `linear_encoder`) and `cls_token` [1, T, D] with T = class_token_length.
 *
 * About the seed table's "Size (M params)" (86, 303, 632, 632, 1011, 1843): no single head choice
 * reproduces all six. Rounded to the nearest million, the backbone alone (everything except the
 * classification head) gives 86, 303, 631, 631, 1011, 1843; adding a 1000-class linear head gives
 * 87, 304, 632, 632, 1013, 1844; NeMo's mlp_tanh head is larger still (87, 305, 634, 634, 1015, 1847).
 * The table's numbers come from the papers (Dosovitskiy et al. counted ViT-H/14 with its head;
 * Zhai et al.'s g/14 and G/14 without), so: B/16, L/16, g/14, G/14 = backbone; H/16, H/14 = backbone +
 * linear 1000-class head. The 8-vs-1 class tokens change nothing at this rounding.
 */
import { type ViTConfig, projectionSize, sequenceLength } from "./config.js";

export interface ParameterShape {
  name: string;
  shape: number[];
}

type LayoutConfig = Pick<
  ViTConfig,
  | "num_layers"
  | "hidden_size"
  | "ffn_hidden_size"
  | "num_classes"
  | "patch_dim"
  | "img_h"
  | "img_w"
  | "num_channels"
  | "class_token_length"
  | "head_type"
  | "qkv_bias"
  | "num_attention_heads"
  | "kv_channels"
>;

/** Every parameter, in state-dict order (timm's order), with its shape. */
export function parameterShapes(c: LayoutConfig): ParameterShape[] {
  const D = c.hidden_size;
  const F = c.ffn_hidden_size;
  const T = c.class_token_length;
  const P = projectionSize(c); // heads × kv_channels (= D unless kv_channels is set otherwise)
  const out: ParameterShape[] = [
    { name: "cls_token", shape: [1, T, D] },
    { name: "pos_embed", shape: [1, sequenceLength(c), D] },
    { name: "patch_embed.proj.weight", shape: [D, c.patch_dim * c.patch_dim * c.num_channels] },
    { name: "patch_embed.proj.bias", shape: [D] },
  ];
  for (let i = 0; i < c.num_layers; i++) {
    const b = `blocks.${i}`;
    out.push(
      { name: `${b}.norm1.weight`, shape: [D] },
      { name: `${b}.norm1.bias`, shape: [D] },
      { name: `${b}.attn.qkv.weight`, shape: [3 * P, D] },
      ...(c.qkv_bias ? [{ name: `${b}.attn.qkv.bias`, shape: [3 * P] }] : []),
      { name: `${b}.attn.proj.weight`, shape: [D, P] },
      { name: `${b}.attn.proj.bias`, shape: [D] },
      { name: `${b}.norm2.weight`, shape: [D] },
      { name: `${b}.norm2.bias`, shape: [D] },
      { name: `${b}.mlp.fc1.weight`, shape: [F, D] },
      { name: `${b}.mlp.fc1.bias`, shape: [F] },
      { name: `${b}.mlp.fc2.weight`, shape: [D, F] },
      { name: `${b}.mlp.fc2.bias`, shape: [D] },
    );
  }
  out.push({ name: "norm.weight", shape: [D] }, { name: "norm.bias", shape: [D] });
  if (c.head_type === "mlp_tanh") {
    out.push({ name: "pre_logits.fc.weight", shape: [D, D] }, { name: "pre_logits.fc.bias", shape: [D] });
  }
  out.push({ name: "head.weight", shape: [c.num_classes, D] }, { name: "head.bias", shape: [c.num_classes] });
  return out;
}

export interface ParameterCount {
  /** All parameters, with the config's head. */
  total: number;
  /** Everything except the classification head (pre_logits + head). */
  backbone: number;
  components: {
    patch_embed: number;
    class_token: number;
    pos_embed: number;
    blocks: { per_layer: number; total: number };
    final_norm: number;
    head: number;
  };
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function countParameters(c: LayoutConfig): ParameterCount {
  const components = {
    patch_embed: 0,
    class_token: 0,
    pos_embed: 0,
    blocks: { per_layer: 0, total: 0 },
    final_norm: 0,
    head: 0,
  };
  for (const { name, shape } of parameterShapes(c)) {
    const n = numel(shape);
    if (name === "cls_token") components.class_token += n;
    else if (name === "pos_embed") components.pos_embed += n;
    else if (name.startsWith("patch_embed.")) components.patch_embed += n;
    else if (name.startsWith("blocks.")) components.blocks.total += n;
    else if (name.startsWith("norm.")) components.final_norm += n;
    else components.head += n; // pre_logits.*, head.*
  }
  components.blocks.per_layer = components.blocks.total / c.num_layers;
  const total =
    components.patch_embed +
    components.class_token +
    components.pos_embed +
    components.blocks.total +
    components.final_norm +
    components.head;
  return { total, backbone: total - components.head, components };
}
