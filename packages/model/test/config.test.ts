import { readSafetensorsHeader } from "@vit/nn";
import { describe, expect, it } from "vitest";
import {
  ViTConfigError,
  gridSize,
  headDim,
  numPatches,
  parseViTConfig,
  sequenceLength,
  suggestConfigKey,
} from "../src/index.js";
import { MODEL_CASES, fixturePath, readCaseConfig } from "./pytorch-fixtures.js";

const b16 = {
  num_layers: 12,
  hidden_size: 768,
  num_attention_heads: 12,
  patch_dim: 16,
  img_h: 224,
  img_w: 224,
};

function errorOf(fn: () => unknown): ViTConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ViTConfigError);
    return e as ViTConfigError;
  }
  throw new Error("expected a ViTConfigError");
}

describe("defaults", () => {
  it("nemo style: 8 class tokens, eps 1e-5, mlp_tanh head, seq 196 + 8 = 204", () => {
    const c = parseViTConfig(b16);
    expect(c).toMatchObject({
      style: "nemo",
      class_token_length: 8,
      layernorm_epsilon: 1e-5,
      head_type: "mlp_tanh",
      activation: "gelu",
      hidden_dropout: 0.1,
      attention_dropout: 0,
      ffn_hidden_size: 3072,
      num_channels: 3,
      num_classes: 1000,
      vision_pretraining_type: "classify",
      init_method_std: 0.02,
      qkv_bias: true,
      encoder_seq_length: 204,
      max_position_embeddings: 204,
    });
    expect(gridSize(c)).toEqual([14, 14]);
    expect(numPatches(c)).toBe(196);
    expect(sequenceLength(c)).toBe(204);
    expect(headDim(c)).toBe(64);
  });

  it("timm style from the options or the input: 1 class token, eps 1e-6, linear head, no dropout", () => {
    for (const c of [parseViTConfig(b16, { style: "timm" }), parseViTConfig({ ...b16, style: "timm" })]) {
      expect(c).toMatchObject({
        style: "timm",
        class_token_length: 1,
        layernorm_epsilon: 1e-6,
        head_type: "linear",
        hidden_dropout: 0,
        encoder_seq_length: 197,
      });
    }
    // The input's own style wins over the option.
    expect(parseViTConfig({ ...b16, style: "nemo" }, { style: "timm" }).class_token_length).toBe(8);
  });

  it("explicit keys win over style defaults; /14 at 224 gives 256 + 8 = 264", () => {
    const c = parseViTConfig({
      ...b16,
      patch_dim: 14,
      class_token_length: 1,
      head_type: "linear",
      max_position_embeddings: 300,
    });
    expect(c.encoder_seq_length).toBe(257);
    expect(c.max_position_embeddings).toBe(300);
    expect(parseViTConfig({ ...b16, patch_dim: 14 }).encoder_seq_length).toBe(264);
  });

  it("accepts NeMo's yaml convention encoder_seq_length = patches only (196)", () => {
    const c = parseViTConfig({ ...b16, encoder_seq_length: 196 });
    expect(c.encoder_seq_length).toBe(196);
    expect(c.max_position_embeddings).toBe(196);
    expect(sequenceLength(c)).toBe(204);
    expect(parseViTConfig({ ...b16, encoder_seq_length: 204 }).encoder_seq_length).toBe(204);
  });

  it.each(MODEL_CASES)("parses the PyTorch fixture %s's config (NeMo keys) as written", async (name) => {
    const { raw, config } = readCaseConfig(name);
    expect(config).toMatchObject(raw.model); // every key kept, nothing rejected or renamed
    // The sequence the config implies is the one the fixture's position embedding was built for.
    const h = await readSafetensorsHeader(fixturePath(name, "weights.safetensors"));
    const pos = h.tensors.get("pos_embed") ?? h.tensors.get("model.backbone.position_embeddings.weight");
    expect(pos!.shape.at(-2)).toBe(sequenceLength(config));
    expect(config.encoder_seq_length).toBe(sequenceLength(config));
  });

  it("the fixtures cover 1 and 8 class tokens, a non-square grid, odd heads and both head types", () => {
    const cs = MODEL_CASES.map((n) => readCaseConfig(n).config);
    expect(new Set(cs.map((c) => c.class_token_length))).toEqual(new Set([1, 8]));
    expect(cs.some((c) => c.img_h !== c.img_w)).toBe(true);
    expect(cs.some((c) => c.num_attention_heads % 2 === 1 && c.num_layers >= 3)).toBe(true);
    expect(new Set(cs.map((c) => c.head_type))).toEqual(new Set(["linear", "mlp_tanh"]));
    expect(cs.find((c) => c.style === "nemo")).toMatchObject({
      layernorm_epsilon: 1e-5,
      class_token_length: 8,
    });
  });
});

describe("errors name the key and the fix", () => {
  it("unknown keys suggest the nearest valid key (aliases and typos)", () => {
    const e = errorOf(() => parseViTConfig({ ...b16, patch_size: 16, num_layer: 3, hiden_size: 2 }));
    expect(e.issues.map((i) => i.key).sort()).toEqual(["hiden_size", "num_layer", "patch_size"]);
    expect(e.message).toContain("patch_size: unknown key; did you mean 'patch_dim'?");
    expect(e.message).toContain("num_layer: unknown key; did you mean 'num_layers'?");
    expect(e.message).toContain("hiden_size: unknown key; did you mean 'hidden_size'?");
    expect(suggestConfigKey("embed_dim")).toBe("hidden_size");
    expect(suggestConfigKey("layernorm_eps")).toBe("layernorm_epsilon");
  });

  it("unknownKeys: 'strip' ignores the rest of a NeMo model section", () => {
    const c = parseViTConfig({ ...b16, micro_batch_size: 256, precision: "bf16" }, { unknownKeys: "strip" });
    expect(c.hidden_size).toBe(768);
  });

  it("hidden_size not divisible by num_attention_heads", () => {
    const e = errorOf(() => parseViTConfig({ ...b16, hidden_size: 100 }));
    expect(e.issues).toHaveLength(1);
    expect(e.message).toMatch(/hidden_size: 100 is not divisible by num_attention_heads 12/);
    expect(e.message).toMatch(
      /use num_attention_heads in \[1, 2, 4, 5, 10, 20, 25, 50\] or hidden_size 96 \/ 108/,
    );
  });

  it("image not divisible by patch_dim, for each side", () => {
    const e = errorOf(() => parseViTConfig({ ...b16, img_h: 225, img_w: 230 }));
    expect(e.issues.map((i) => i.key)).toEqual(["img_h", "img_w"]);
    expect(e.message).toMatch(/img_h: 225 is not divisible by patch_dim 16; use img_h 224 or 240/);
  });

  it("encoder_seq_length inconsistent with image / patch / class tokens", () => {
    const e = errorOf(() => parseViTConfig({ ...b16, encoder_seq_length: 197 }));
    expect(e.message).toMatch(
      /encoder_seq_length: 197 is inconsistent with the image: 224x224 \/ patch 16 = 14x14 = 196 patches \+ 8 class tokens = 204; set it to 204/,
    );
  });

  it("non-positive or fractional sizes, missing keys, bad dropout, bad enums", () => {
    const e = errorOf(() =>
      parseViTConfig({
        num_layers: 0,
        hidden_size: -768,
        num_attention_heads: 2.5,
        patch_dim: 16,
        img_h: 224,
        hidden_dropout: 1,
        attention_dropout: -0.1,
        activation: "relu",
        vision_pretraining_type: "dino",
        num_classes: "10",
      }),
    );
    const byKey = Object.fromEntries(e.issues.map((i) => [i.key, i.message]));
    expect(byKey.num_layers).toBe("must be > 0 (got 0)");
    expect(byKey.hidden_size).toBe("must be > 0 (got -768)");
    expect(byKey.num_attention_heads).toBe("must be an integer (got 2.5)");
    expect(byKey.img_w).toBe("is required");
    expect(byKey.hidden_dropout).toMatch(/must be in \[0, 1\).*\(got 1\)/);
    expect(byKey.attention_dropout).toMatch(/must be in \[0, 1\) \(got -0.1\)/);
    expect(byKey.activation).toMatch(/'gelu' \(erf\) or 'gelu_tanh'/);
    expect(byKey.vision_pretraining_type).toMatch(/only 'classify'/);
    expect(byKey.num_classes).toBe('must be a number (got "10")');
    expect(() => parseViTConfig({ ...b16, class_token_length: 0 })).toThrow(
      /class_token_length: must be > 0/,
    );
    expect(() => parseViTConfig(null)).toThrow(ViTConfigError);
  });
});
