/**
 * ViT configuration in NeMo's key names (`model:` section of megatron_vit_classification_config.yaml),
 * plus the few knobs NeMo/Megatron hard-code or that timm/HF differ on.
 *
 * `style` picks the defaults: 'nemo' reproduces Megatron's VitBackbone (8 class tokens, LN eps 1e-5,
 * pretraining head Linear→tanh→Linear, hidden dropout 0.1), 'timm' reproduces timm/torchvision/HF
 * (1 class token, LN eps 1e-6, single linear head, no dropout).
 */
import { VitError } from "@vit/tensor";
import { z } from "zod";

export type ViTStyle = "nemo" | "timm";
export type ViTActivation = "gelu" | "gelu_tanh";
/** 'mlp_tanh': NeMo's VitMlpHead, Linear(h→h) → tanh → Linear(h→classes), output bias −10.
 *  'linear': NeMo's fine-tuning head (zero-initialised) and timm's/HF's classifier. */
export type ViTHeadType = "mlp_tanh" | "linear";

export interface ViTConfig {
  /**
   * NeMo's key. Accepted as either patches + class tokens (what the encoder actually sees, e.g. 204)
   * or patches only (what NeMo's shipped yaml writes, e.g. 196; NeMo's VitBackbone ignores it and
   * computes its own). Use `sequenceLength(config)` for the real length.
   */
  encoder_seq_length: number;
  /** NeMo's key, kept for config compatibility; the position table is sized by `sequenceLength`. */
  max_position_embeddings: number;
  num_layers: number;
  hidden_size: number;
  ffn_hidden_size: number;
  num_attention_heads: number;
  hidden_dropout: number;
  attention_dropout: number;
  vision_pretraining_type: "classify";
  num_classes: number;
  patch_dim: number;
  img_h: number;
  img_w: number;
  num_channels: number;
  class_token_length: number;
  layernorm_epsilon: number;
  init_method_std: number;
  activation: ViTActivation;
  head_type: ViTHeadType;
  style: ViTStyle;
  qkv_bias: boolean;
  /**
   * NeMo's kv_channels: the width of each attention head; q, k and v are num_attention_heads × kv_channels
   * wide. Defaults to hidden_size / num_attention_heads.
   */
  kv_channels: number;
  /**
   * NeMo's drop_path_rate: stochastic depth, rising linearly over the layers from 0 (first layer) to this
   * rate (last layer), as Megatron's and timm's linspace(0, rate, num_layers).
   */
  drop_path_rate: number;
  /** NeMo's use_scaled_init_method: output projections initialised with σ/√(2·num_layers) (nemo default). */
  use_scaled_init_method: boolean;
}

/**
 * Input-only NeMo keys that set a ViTConfig field: `openai_gelu: true` means activation 'gelu_tanh'
 * (Megatron's openai_gelu is the tanh approximation); `normalization` accepts only 'layernorm'.
 */
export interface ViTConfigAliases {
  openai_gelu?: boolean;
  normalization?: "layernorm";
}

export type ViTConfigInput = Partial<ViTConfig> & ViTConfigAliases;

export const VIT_CONFIG_KEYS: readonly (keyof ViTConfig)[] = [
  "encoder_seq_length",
  "max_position_embeddings",
  "num_layers",
  "hidden_size",
  "ffn_hidden_size",
  "num_attention_heads",
  "hidden_dropout",
  "attention_dropout",
  "vision_pretraining_type",
  "num_classes",
  "patch_dim",
  "img_h",
  "img_w",
  "num_channels",
  "class_token_length",
  "layernorm_epsilon",
  "init_method_std",
  "activation",
  "head_type",
  "style",
  "qkv_bias",
  "kv_channels",
  "drop_path_rate",
  "use_scaled_init_method",
];

const ALIAS_KEYS: readonly (keyof ViTConfigAliases)[] = ["openai_gelu", "normalization"];

export const STYLE_DEFAULTS: Record<
  ViTStyle,
  Pick<
    ViTConfig,
    | "class_token_length"
    | "layernorm_epsilon"
    | "head_type"
    | "hidden_dropout"
    | "attention_dropout"
    | "use_scaled_init_method"
  >
> = {
  // megatron_vit_classification_config.yaml + VitBackbone/VitClassificationModel defaults.
  nemo: {
    class_token_length: 8,
    layernorm_epsilon: 1e-5,
    head_type: "mlp_tanh",
    hidden_dropout: 0.1,
    attention_dropout: 0,
    use_scaled_init_method: true,
  },
  timm: {
    class_token_length: 1,
    layernorm_epsilon: 1e-6,
    head_type: "linear",
    hidden_dropout: 0,
    attention_dropout: 0,
    use_scaled_init_method: false,
  },
};

export interface ViTConfigIssue {
  key: string;
  message: string;
}

export class ViTConfigError extends VitError {
  constructor(readonly issues: ViTConfigIssue[]) {
    super(
      issues.length === 1
        ? `invalid ViT config: ${issues[0]!.key}: ${issues[0]!.message}`
        : `invalid ViT config:\n${issues.map((i) => `  - ${i.key}: ${i.message}`).join("\n")}`,
    );
  }
}

// Names other codebases use for the same thing; better suggestions than edit distance alone.
const ALIASES: Record<string, keyof ViTConfig> = {
  patch_size: "patch_dim",
  embed_dim: "hidden_size",
  width: "hidden_size",
  depth: "num_layers",
  num_hidden_layers: "num_layers",
  num_heads: "num_attention_heads",
  heads: "num_attention_heads",
  mlp_dim: "ffn_hidden_size",
  intermediate_size: "ffn_hidden_size",
  in_chans: "num_channels",
  img_size: "img_h",
  image_size: "img_h",
  layer_norm_eps: "layernorm_epsilon",
  eps: "layernorm_epsilon",
  drop_rate: "hidden_dropout",
  attn_drop_rate: "attention_dropout",
  hidden_dropout_prob: "hidden_dropout",
  attention_probs_dropout_prob: "attention_dropout",
  seq_length: "encoder_seq_length",
  initializer_range: "init_method_std",
  hidden_act: "activation",
  num_labels: "num_classes",
};

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The valid key closest to `key` (alias table first, then edit distance). */
export function suggestConfigKey(key: string): keyof ViTConfig {
  const alias = ALIASES[key.toLowerCase()];
  if (alias) return alias;
  let best: keyof ViTConfig = VIT_CONFIG_KEYS[0]!;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of VIT_CONFIG_KEYS) {
    const d = editDistance(key.toLowerCase(), k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

const posInt = () =>
  z.number({ invalid_type_error: "must be a number" }).int("must be an integer").positive("must be > 0");
const dropout = z
  .number({ invalid_type_error: "must be a number" })
  .min(0, "must be in [0, 1)")
  .lt(1, "must be in [0, 1) (1 would drop everything)");

const inputSchema = z.object({
  encoder_seq_length: posInt().optional(),
  max_position_embeddings: posInt().optional(),
  num_layers: posInt(),
  hidden_size: posInt(),
  ffn_hidden_size: posInt().optional(),
  num_attention_heads: posInt(),
  hidden_dropout: dropout.optional(),
  attention_dropout: dropout.optional(),
  vision_pretraining_type: z
    .literal("classify", { errorMap: () => ({ message: "only 'classify' is supported (as in NeMo)" }) })
    .optional(),
  num_classes: posInt().optional(),
  patch_dim: posInt(),
  img_h: posInt(),
  img_w: posInt(),
  num_channels: posInt().optional(),
  // ≥ 1: the head reads token 0, which must be a class token.
  class_token_length: posInt().optional(),
  layernorm_epsilon: z.number().positive("must be > 0").optional(),
  init_method_std: z.number().positive("must be > 0").optional(),
  activation: z
    .enum(["gelu", "gelu_tanh"], { errorMap: () => ({ message: "must be 'gelu' (erf) or 'gelu_tanh'" }) })
    .optional(),
  head_type: z
    .enum(["mlp_tanh", "linear"], { errorMap: () => ({ message: "must be 'mlp_tanh' or 'linear'" }) })
    .optional(),
  style: z.enum(["nemo", "timm"], { errorMap: () => ({ message: "must be 'nemo' or 'timm'" }) }).optional(),
  qkv_bias: z.boolean({ invalid_type_error: "must be true or false" }).optional(),
  kv_channels: posInt().optional(),
  drop_path_rate: dropout.optional(),
  use_scaled_init_method: z.boolean({ invalid_type_error: "must be true or false" }).optional(),
  openai_gelu: z.boolean({ invalid_type_error: "must be true or false" }).optional(),
  normalization: z
    .literal("layernorm", {
      errorMap: () => ({
        message: "only 'layernorm' is implemented (no RMSNorm / layernorm1p); set layernorm",
      }),
    })
    .optional(),
});

export interface ParseViTConfigOptions {
  /** Defaults to fill when the input has no `style` key (default 'nemo'). */
  style?: ViTStyle;
  /** 'error' (default) rejects keys that are not ViT config keys; 'strip' drops them (e.g. a whole
   *  NeMo `model:` section with optimizer and data keys). */
  unknownKeys?: "error" | "strip";
}

export function gridSize(c: Pick<ViTConfig, "img_h" | "img_w" | "patch_dim">): [number, number] {
  return [c.img_h / c.patch_dim, c.img_w / c.patch_dim];
}
export function numPatches(c: Pick<ViTConfig, "img_h" | "img_w" | "patch_dim">): number {
  const [h, w] = gridSize(c);
  return h * w;
}
/** Tokens the encoder sees: class tokens + patches (NeMo's VitBackbone.seq_length). */
export function sequenceLength(
  c: Pick<ViTConfig, "img_h" | "img_w" | "patch_dim" | "class_token_length">,
): number {
  return c.class_token_length + numPatches(c);
}
/** Width of one attention head: kv_channels (hidden_size / num_attention_heads unless set). */
export function headDim(c: Pick<ViTConfig, "kv_channels">): number {
  return c.kv_channels;
}
/** Width of q, k, v and of the attention output projection's input: heads × kv_channels. */
export function projectionSize(c: Pick<ViTConfig, "kv_channels" | "num_attention_heads">): number {
  return c.num_attention_heads * c.kv_channels;
}
/** Stochastic-depth rate of each layer: linspace(0, drop_path_rate, num_layers), as Megatron and timm. */
export function dropPathRates(c: Pick<ViTConfig, "drop_path_rate" | "num_layers">): number[] {
  const L = c.num_layers;
  return Array.from({ length: L }, (_, i) => (L > 1 ? (c.drop_path_rate * i) / (L - 1) : 0));
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

/** Validates `input` and fills defaults; throws ViTConfigError listing every problem with its fix. */
export function parseViTConfig(input: unknown, options: ParseViTConfigOptions = {}): ViTConfig {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new ViTConfigError([{ key: "(root)", message: "config must be an object of NeMo model keys" }]);
  }
  const issues: ViTConfigIssue[] = [];
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (
      (VIT_CONFIG_KEYS as readonly string[]).includes(key) ||
      (ALIAS_KEYS as readonly string[]).includes(key)
    ) {
      // null is NeMo's "unset" (kv_channels: null, ...): the default applies.
      if (value !== null) raw[key] = value;
    } else if (options.unknownKeys !== "strip") {
      issues.push({ key, message: `unknown key; did you mean '${suggestConfigKey(key)}'?` });
    }
  }
  const parsed = inputSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const key = String(i.path[0] ?? "(root)");
      const got = raw[key];
      const message = i.code === "invalid_type" && got === undefined ? "is required" : i.message;
      issues.push({ key, message: got === undefined ? message : `${message} (got ${JSON.stringify(got)})` });
    }
  }
  if (issues.length > 0 || !parsed.success) throw new ViTConfigError(issues);

  const p = parsed.data;
  if (
    p.openai_gelu !== undefined &&
    p.activation !== undefined &&
    p.activation !== (p.openai_gelu ? "gelu_tanh" : "gelu")
  ) {
    throw new ViTConfigError([
      {
        key: "openai_gelu",
        message: `${p.openai_gelu} contradicts activation '${p.activation}' (openai_gelu means the tanh GELU); set only one`,
      },
    ]);
  }
  const style = p.style ?? options.style ?? "nemo";
  const d = STYLE_DEFAULTS[style];
  const base = {
    num_layers: p.num_layers,
    hidden_size: p.hidden_size,
    ffn_hidden_size: p.ffn_hidden_size ?? 4 * p.hidden_size, // Megatron's default when unset
    num_attention_heads: p.num_attention_heads,
    hidden_dropout: p.hidden_dropout ?? d.hidden_dropout,
    attention_dropout: p.attention_dropout ?? d.attention_dropout,
    vision_pretraining_type: "classify" as const,
    num_classes: p.num_classes ?? 1000,
    patch_dim: p.patch_dim,
    img_h: p.img_h,
    img_w: p.img_w,
    num_channels: p.num_channels ?? 3,
    class_token_length: p.class_token_length ?? d.class_token_length,
    layernorm_epsilon: p.layernorm_epsilon ?? d.layernorm_epsilon,
    init_method_std: p.init_method_std ?? 0.02,
    activation: p.activation ?? (p.openai_gelu ? "gelu_tanh" : "gelu"),
    head_type: p.head_type ?? d.head_type,
    style,
    qkv_bias: p.qkv_bias ?? true,
    kv_channels: p.kv_channels ?? p.hidden_size / p.num_attention_heads,
    drop_path_rate: p.drop_path_rate ?? 0,
    use_scaled_init_method: p.use_scaled_init_method ?? d.use_scaled_init_method,
  };

  // With kv_channels given, the heads need not divide hidden_size (Megatron's projection_size).
  if (p.kv_channels === undefined && base.hidden_size % base.num_attention_heads !== 0) {
    const h = base.hidden_size;
    const n = base.num_attention_heads;
    issues.push({
      key: "hidden_size",
      message:
        `${h} is not divisible by num_attention_heads ${n} (head dim ${(h / n).toFixed(2)}); ` +
        `use num_attention_heads in [${divisors(h)
          .filter((x) => x <= 64)
          .join(", ")}] ` +
        `or hidden_size ${Math.floor(h / n) * n || n} / ${Math.ceil(h / n) * n}, or set kv_channels`,
    });
  }
  for (const key of ["img_h", "img_w"] as const) {
    const v = base[key];
    if (v % base.patch_dim !== 0) {
      const lo = Math.floor(v / base.patch_dim) * base.patch_dim;
      issues.push({
        key,
        message:
          `${v} is not divisible by patch_dim ${base.patch_dim}; ` +
          `use ${key} ${lo > 0 ? `${lo} or ` : ""}${lo + base.patch_dim}, or a patch_dim dividing ${v}`,
      });
    }
  }
  let encoder_seq_length = p.encoder_seq_length;
  if (issues.length === 0) {
    const patches = numPatches(base);
    const full = patches + base.class_token_length;
    if (encoder_seq_length === undefined) encoder_seq_length = full;
    else if (encoder_seq_length !== full && encoder_seq_length !== patches) {
      const [gh, gw] = gridSize(base);
      issues.push({
        key: "encoder_seq_length",
        message:
          `${encoder_seq_length} is inconsistent with the image: ${base.img_h}x${base.img_w} / patch ${base.patch_dim} ` +
          `= ${gh}x${gw} = ${patches} patches + ${base.class_token_length} class tokens = ${full}; ` +
          `set it to ${full} (or ${patches}, NeMo's yaml convention), or remove it to have it computed`,
      });
    }
  }
  if (issues.length > 0) throw new ViTConfigError(issues);
  const seq = encoder_seq_length as number;
  return {
    encoder_seq_length: seq,
    max_position_embeddings: p.max_position_embeddings ?? seq,
    ...base,
  };
}
