/**
 * Hugging Face's `config.json` for ViTForImageClassification (transformers' ViTConfig) ↔ our ViTConfig.
 * `vit convert --to hf` writes it beside the weights, so that `ViTForImageClassification.from_pretrained(dir)`
 * loads the folder; reading it back gives the architecture without a preset. HF's ViT always has one class
 * token and a single linear classifier, so other layouts are refused rather than written wrongly.
 */
import { type ViTConfig, parseViTConfig } from "./config.js";
import { WeightMappingError } from "./weights.js";

/** transformers' ViTConfig defaults (configuration_vit.py), used for keys a config.json leaves out. */
const HF_DEFAULTS = {
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: "gelu",
  hidden_dropout_prob: 0,
  attention_probs_dropout_prob: 0,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  image_size: 224,
  patch_size: 16,
  num_channels: 3,
  qkv_bias: true,
} as const;

/** HF's activation names: "gelu" is the exact (erf) GELU; the tanh approximation has several names. */
const TANH_GELU = ["gelu_pytorch_tanh", "gelu_new", "gelu_fast"];

export interface HfConfigResult {
  config: ViTConfig;
  /** id2label in index order, when the file has labels. */
  classes?: string[];
}

/** The config.json of `c` (ViTForImageClassification); `classes` become id2label / label2id. */
export function toHfConfig(c: ViTConfig, classes?: readonly string[]): Record<string, unknown> {
  if (c.class_token_length !== 1 || c.head_type !== "linear") {
    throw new WeightMappingError(
      `Hugging Face's ViT has 1 class token and a linear head; this model has ${c.class_token_length} class token(s) and ` +
        `a ${c.head_type} head. Use --to timm or nemo, or train with class_token_length=1 head_type=linear.`,
    );
  }
  const names = Array.from({ length: c.num_classes }, (_, i) => classes?.[i] ?? `LABEL_${i}`);
  return {
    architectures: ["ViTForImageClassification"],
    model_type: "vit",
    hidden_size: c.hidden_size,
    num_hidden_layers: c.num_layers,
    num_attention_heads: c.num_attention_heads,
    intermediate_size: c.ffn_hidden_size,
    hidden_act: c.activation === "gelu" ? "gelu" : "gelu_pytorch_tanh",
    hidden_dropout_prob: c.hidden_dropout,
    attention_probs_dropout_prob: c.attention_dropout,
    initializer_range: c.init_method_std,
    layer_norm_eps: c.layernorm_epsilon,
    image_size: c.img_h === c.img_w ? c.img_h : [c.img_h, c.img_w],
    patch_size: c.patch_dim,
    num_channels: c.num_channels,
    qkv_bias: c.qkv_bias,
    encoder_stride: c.patch_dim,
    num_labels: c.num_classes,
    id2label: Object.fromEntries(names.map((n, i) => [String(i), n])),
    label2id: Object.fromEntries(names.map((n, i) => [n, i])),
    torch_dtype: "float32",
  };
}

/** Our config (timm conventions: 1 class token, linear head) from a parsed config.json. */
export function fromHfConfig(json: unknown, source = "config.json"): HfConfigResult {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new WeightMappingError(`${source}: not a JSON object.`);
  }
  const h = { ...HF_DEFAULTS, ...(json as Record<string, unknown>) } as Record<string, unknown>;
  if (h.model_type !== "vit") {
    throw new WeightMappingError(
      `${source}: model_type is ${JSON.stringify(h.model_type)}, not "vit"; only ViTForImageClassification configs are read.`,
    );
  }
  const act = String(h.hidden_act);
  if (act !== "gelu" && !TANH_GELU.includes(act)) {
    throw new WeightMappingError(
      `${source}: hidden_act "${act}" is not supported (gelu or gelu_pytorch_tanh).`,
    );
  }
  const size = h.image_size as number | [number, number];
  const [img_h, img_w] = Array.isArray(size) ? size : [size, size];
  const id2label = h.id2label as Record<string, string> | undefined;
  const classes = id2label
    ? Object.keys(id2label)
        .sort((a, b) => Number(a) - Number(b))
        .map((k) => id2label[k]!)
    : undefined;
  const config = parseViTConfig({
    style: "timm",
    hidden_size: h.hidden_size,
    num_layers: h.num_hidden_layers,
    num_attention_heads: h.num_attention_heads,
    ffn_hidden_size: h.intermediate_size,
    activation: act === "gelu" ? "gelu" : "gelu_tanh",
    hidden_dropout: h.hidden_dropout_prob,
    attention_dropout: h.attention_probs_dropout_prob,
    init_method_std: h.initializer_range,
    layernorm_epsilon: h.layer_norm_eps,
    img_h,
    img_w,
    patch_dim: h.patch_size,
    num_channels: h.num_channels,
    qkv_bias: h.qkv_bias,
    // transformers' PretrainedConfig: num_labels follows id2label, else defaults to 2.
    num_classes: classes?.length ?? (h.num_labels as number | undefined) ?? 2,
    class_token_length: 1,
    head_type: "linear",
  });
  return { config, ...(classes ? { classes } : {}) };
}
