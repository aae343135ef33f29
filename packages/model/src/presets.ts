/**
 * Named model sizes. The large ones are the seed table's NeMo ViTs (224×224, 1000 classes, NeMo style:
 * 8 class tokens, pretraining MLP head); `tiny` and `small` train on a CPU in minutes; timm's names
 * (`vit_base_patch16_224`, ...) are the same shapes with timm's conventions, for its and HF's weights.
 * Presets hold only the shape keys, so `style` and other overrides pick their own defaults and
 * `encoder_seq_length` is recomputed when the image size changes.
 */
import { type ViTConfig, ViTConfigError, type ViTConfigInput, parseViTConfig } from "./config.js";

interface PresetDef {
  description: string;
  config: ViTConfigInput;
}

const imagenet = { img_h: 224, img_w: 224, num_channels: 3, num_classes: 1000, style: "nemo" } as const;

// timm's (and torchvision's, HF's google/vit-*) conventions: 1 class token, a single linear head, LN eps 1e-6,
// no dropout, 1000 ImageNet classes. `style: "timm"` fills exactly these defaults.
const timm = { num_channels: 3, num_classes: 1000, style: "timm" } as const;
const TIMM_SIZES = {
  tiny: { hidden_size: 192, num_layers: 12, num_attention_heads: 3 },
  small: { hidden_size: 384, num_layers: 12, num_attention_heads: 6 },
  base: { hidden_size: 768, num_layers: 12, num_attention_heads: 12 },
  large: { hidden_size: 1024, num_layers: 24, num_attention_heads: 16 },
  huge: { hidden_size: 1280, num_layers: 32, num_attention_heads: 16 },
} as const;
/** timm model names (`vit_<size>_patch<P>_<resolution>`) that have a plain ViT architecture. */
const TIMM_NAMES = [
  ["tiny", 16, 224],
  ["tiny", 16, 384],
  ["small", 16, 224],
  ["small", 32, 224],
  ["small", 16, 384],
  ["base", 16, 224],
  ["base", 32, 224],
  ["base", 8, 224],
  ["base", 16, 384],
  ["large", 16, 224],
  ["large", 32, 224],
  ["large", 16, 384],
  ["huge", 14, 224],
] as const;

function timmPresets(): Record<`vit_${string}`, PresetDef> {
  const out: Record<string, PresetDef> = {};
  for (const [size, patch, res] of TIMM_NAMES) {
    const s = TIMM_SIZES[size];
    out[`vit_${size}_patch${patch}_${res}`] = {
      description: `timm's ViT-${size[0]!.toUpperCase()}${size.slice(1)}/${patch} at ${res}×${res}: 1 class token, linear head, LN eps 1e-6`,
      config: { ...timm, ...s, ffn_hidden_size: 4 * s.hidden_size, patch_dim: patch, img_h: res, img_w: res },
    };
  }
  return out;
}

const PRESETS = {
  "B/16": {
    description: "ViT-Base/16 (seed: 86M params, seq 204)",
    config: {
      ...imagenet,
      hidden_size: 768,
      ffn_hidden_size: 3072,
      num_attention_heads: 12,
      num_layers: 12,
      patch_dim: 16,
    },
  },
  "L/16": {
    description: "ViT-Large/16 (seed: 303M params, seq 204)",
    config: {
      ...imagenet,
      hidden_size: 1024,
      ffn_hidden_size: 4096,
      num_attention_heads: 16,
      num_layers: 24,
      patch_dim: 16,
    },
  },
  "H/16": {
    description: "ViT-Huge/16 (seed: 632M params, seq 204)",
    config: {
      ...imagenet,
      hidden_size: 1280,
      ffn_hidden_size: 5120,
      num_attention_heads: 16,
      num_layers: 32,
      patch_dim: 16,
    },
  },
  "H/14": {
    description: "ViT-Huge/14 (seed: 632M params, seq 264)",
    config: {
      ...imagenet,
      hidden_size: 1280,
      ffn_hidden_size: 5120,
      num_attention_heads: 16,
      num_layers: 32,
      patch_dim: 14,
    },
  },
  "g/14": {
    description: "ViT-giant/14 (seed: 1011M params, seq 264)",
    config: {
      ...imagenet,
      hidden_size: 1408,
      ffn_hidden_size: 6144,
      num_attention_heads: 16,
      num_layers: 40,
      patch_dim: 14,
    },
  },
  "G/14": {
    description: "ViT-Gigantic/14 (seed: 1843M params, seq 264)",
    config: {
      ...imagenet,
      hidden_size: 1664,
      ffn_hidden_size: 8192,
      num_attention_heads: 16,
      num_layers: 48,
      patch_dim: 14,
    },
  },
  tiny: {
    description: "Fashion-MNIST 28×28×1, patch 7 (16 patches), 4 layers of width 128: trains on a CPU",
    config: {
      img_h: 28,
      img_w: 28,
      num_channels: 1,
      patch_dim: 7,
      hidden_size: 128,
      ffn_hidden_size: 512,
      num_attention_heads: 4,
      num_layers: 4,
      num_classes: 10,
      style: "nemo",
    },
  },
  small: {
    description: "CIFAR-10 32×32×3, patch 4 (64 patches), 6 layers of width 192",
    config: {
      img_h: 32,
      img_w: 32,
      num_channels: 3,
      patch_dim: 4,
      hidden_size: 192,
      ffn_hidden_size: 768,
      num_attention_heads: 3,
      num_layers: 6,
      num_classes: 10,
      style: "nemo",
    },
  },
  ...timmPresets(),
} satisfies Record<string, PresetDef>;

export type PresetName = keyof typeof PRESETS;

export function listPresets(): PresetName[] {
  return Object.keys(PRESETS) as PresetName[];
}

export function presetDescription(name: PresetName): string {
  return PRESETS[name].description;
}

/**
 * A preset's full config. `overrides` win over the preset (e.g. `{ style: 'timm' }` switches to one
 * class token, LN eps 1e-6 and a linear head; `{ img_h: 512, img_w: 512 }` for fine-tuning).
 */
export function getPreset(name: string, overrides: ViTConfigInput = {}): ViTConfig {
  const def = (PRESETS as Record<string, PresetDef>)[name];
  if (!def) {
    throw new ViTConfigError([
      { key: "preset", message: `unknown preset '${name}'; available: ${listPresets().join(", ")}` },
    ]);
  }
  return parseViTConfig({ ...def.config, ...overrides });
}
