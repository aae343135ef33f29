import { describe, expect, it } from "vitest";
import {
  type ViTConfig,
  ViTConfigError,
  countParameters,
  getPreset,
  listPresets,
  parameterShapes,
  sequenceLength,
} from "../src/index.js";

// Seed table (shared/seed/vit-nemo.md): size in M params and sequence length at 224×224.
const SEED = {
  "B/16": { params: 86, seq: 204 },
  "L/16": { params: 303, seq: 204 },
  "H/16": { params: 632, seq: 204 },
  "H/14": { params: 632, seq: 264 },
  "g/14": { params: 1011, seq: 264 },
  "G/14": { params: 1843, seq: 264 },
} as const;

/** Which count the seed's number is (see param-count.ts): backbone only, or backbone + 1000-class linear head. */
const SEED_COUNTS_HEAD: Record<keyof typeof SEED, boolean> = {
  "B/16": false,
  "L/16": false,
  "H/16": true,
  "H/14": true,
  "g/14": false,
  "G/14": false,
};

const millions = (n: number) => Math.round(n / 1e6);

describe("seed presets", () => {
  for (const [name, seed] of Object.entries(SEED) as [
    keyof typeof SEED,
    (typeof SEED)[keyof typeof SEED],
  ][]) {
    it(`${name}: ${seed.params}M params, seq ${seed.seq}`, () => {
      const c = getPreset(name);
      expect(c).toMatchObject({
        img_h: 224,
        img_w: 224,
        num_classes: 1000,
        style: "nemo",
        class_token_length: 8,
      });
      expect(c.encoder_seq_length).toBe(seed.seq);
      expect(sequenceLength(c)).toBe(seed.seq);
      const linear = countParameters({ ...c, head_type: "linear" });
      const counted = SEED_COUNTS_HEAD[name] ? linear.total : linear.backbone;
      expect(millions(counted)).toBe(seed.params);
      // The class-token count (NeMo 8 vs timm 1) does not change the rounded number.
      const timm = countParameters(getPreset(name, { style: "timm" }));
      expect(millions(SEED_COUNTS_HEAD[name] ? timm.total : timm.backbone)).toBe(seed.params);
    });
  }

  it("documents that no single head convention reproduces all six", () => {
    const rows = Object.keys(SEED).map((n) => {
      const c = getPreset(n);
      const none = countParameters(c).backbone;
      return {
        none: millions(none),
        linear: millions(countParameters({ ...c, head_type: "linear" }).total),
        mlp: millions(countParameters({ ...c, head_type: "mlp_tanh" }).total),
      };
    });
    const seed = Object.values(SEED).map((s) => s.params);
    expect(rows.map((r) => r.none)).toEqual([86, 303, 631, 631, 1011, 1843]);
    expect(rows.map((r) => r.linear)).toEqual([87, 304, 632, 632, 1013, 1844]);
    expect(rows.map((r) => r.mlp)).toEqual([87, 305, 634, 634, 1015, 1847]);
    for (const k of ["none", "linear", "mlp"] as const) expect(rows.map((r) => r[k])).not.toEqual(seed);
  });

  it("exact counts for B/16 (nemo style, mlp_tanh head) add up by component", () => {
    const n = countParameters(getPreset("B/16"));
    expect(n.components).toEqual({
      patch_embed: 768 * 768 + 768,
      class_token: 8 * 768,
      pos_embed: 204 * 768,
      blocks: { per_layer: 7_087_872, total: 12 * 7_087_872 },
      final_norm: 2 * 768,
      head: 768 * 768 + 768 + 768 * 1000 + 1000,
    });
    expect(n.backbone).toBe(85_809_408);
    expect(n.total).toBe(85_809_408 + 590_592 + 769_000);
  });
});

describe("small presets", () => {
  it("tiny: Fashion-MNIST 28×28×1, patch 7", () => {
    const c = getPreset("tiny");
    expect(c).toMatchObject({
      img_h: 28,
      num_channels: 1,
      patch_dim: 7,
      hidden_size: 128,
      num_layers: 4,
      num_classes: 10,
    });
    expect(sequenceLength(c)).toBe(16 + 8);
    expect(countParameters(c).total).toBeLessThan(1_000_000);
  });

  it("small: 32×32×3, patch 4, 3 heads of 64", () => {
    const c = getPreset("small");
    expect(c).toMatchObject({
      hidden_size: 192,
      num_attention_heads: 3,
      num_layers: 6,
      ffn_hidden_size: 768,
    });
    expect(sequenceLength(c)).toBe(64 + 8);
    expect(countParameters(c).total).toBeLessThan(3_000_000);
  });

  it("lists every preset and rejects unknown names", () => {
    expect(listPresets().slice(0, 8)).toEqual([
      "B/16",
      "L/16",
      "H/16",
      "H/14",
      "g/14",
      "G/14",
      "tiny",
      "small",
    ]);
    expect(
      listPresets()
        .slice(8)
        .every((n) => n.startsWith("vit_")),
    ).toBe(true);
    expect(() => getPreset("B/32")).toThrow(ViTConfigError);
    expect(() => getPreset("B/32")).toThrow(/unknown preset 'B\/32'; available: B\/16/);
  });

  it("overrides recompute derived keys (fine-tuning at 512)", () => {
    const c = getPreset("B/16", { img_h: 512, img_w: 512, head_type: "linear" });
    expect(c.encoder_seq_length).toBe(32 * 32 + 8);
    expect(() => getPreset("B/16", { img_h: 500 })).toThrow(/img_h: 500 is not divisible by patch_dim 16/);
  });
});

describe("parameterShapes", () => {
  const c: ViTConfig = getPreset("tiny");

  it("uses the documented names, in order, with our shapes", () => {
    const shapes = parameterShapes(c);
    expect(shapes.slice(0, 4)).toEqual([
      { name: "cls_token", shape: [1, 8, 128] },
      { name: "pos_embed", shape: [1, 24, 128] },
      { name: "patch_embed.proj.weight", shape: [128, 49] },
      { name: "patch_embed.proj.bias", shape: [128] },
    ]);
    expect(
      shapes.filter((s) => s.name.startsWith("blocks.0.")).map((s) => [s.name.slice(9), s.shape]),
    ).toEqual([
      ["norm1.weight", [128]],
      ["norm1.bias", [128]],
      ["attn.qkv.weight", [384, 128]],
      ["attn.qkv.bias", [384]],
      ["attn.proj.weight", [128, 128]],
      ["attn.proj.bias", [128]],
      ["norm2.weight", [128]],
      ["norm2.bias", [128]],
      ["mlp.fc1.weight", [512, 128]],
      ["mlp.fc1.bias", [512]],
      ["mlp.fc2.weight", [128, 512]],
      ["mlp.fc2.bias", [128]],
    ]);
    expect(shapes.slice(-6).map((s) => s.name)).toEqual([
      "norm.weight",
      "norm.bias",
      "pre_logits.fc.weight",
      "pre_logits.fc.bias",
      "head.weight",
      "head.bias",
    ]);
    expect(shapes).toHaveLength(4 + 4 * 12 + 6);
  });

  it("linear head drops pre_logits; qkv_bias false drops the qkv bias", () => {
    const names = parameterShapes({ ...c, head_type: "linear", qkv_bias: false }).map((s) => s.name);
    expect(names).not.toContain("pre_logits.fc.weight");
    expect(names).not.toContain("blocks.0.attn.qkv.bias");
    expect(names.slice(-2)).toEqual(["head.weight", "head.bias"]);
  });
});

// Parameter counts of torchvision's VisionTransformer (the same architecture as timm's: conv patch
// embedding, 1 class token, LN eps 1e-6, linear head, 1000 classes), built with these shapes by
// python3 -c "from torchvision.models.vision_transformer import VisionTransformer as V; ..." (sum of numel).
const TORCHVISION_COUNTS = {
  vit_tiny_patch16_224: 5_717_416,
  vit_small_patch16_224: 22_050_664,
  vit_base_patch16_224: 86_567_656,
  vit_base_patch32_224: 88_224_232,
  vit_base_patch16_384: 86_859_496,
  vit_large_patch16_224: 304_326_632,
  vit_large_patch32_224: 306_535_400,
  vit_huge_patch14_224: 632_045_800,
} as const;

describe("timm names", () => {
  for (const [name, count] of Object.entries(TORCHVISION_COUNTS)) {
    it(`${name}: ${count.toLocaleString("en")} parameters, timm's head conventions`, () => {
      expect(listPresets()).toContain(name);
      const c = getPreset(name);
      expect(countParameters(c).total).toBe(count);
      expect(c).toMatchObject({
        class_token_length: 1,
        head_type: "linear",
        layernorm_epsilon: 1e-6,
        num_classes: 1000,
        hidden_dropout: 0,
        qkv_bias: true,
        activation: "gelu",
      });
    });
  }
});
