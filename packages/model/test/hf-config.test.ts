import { describe, expect, it } from "vitest";
import { fromHfConfig, getPreset, toHfConfig } from "../src/index.js";

// The published config.json of google/vit-base-patch16-224 on the Hugging Face Hub, with id2label/label2id cut
// to the first three of its 1000 ImageNet labels.
const GOOGLE_VIT_B16 = {
  _name_or_path: "google/vit-base-patch16-224",
  architectures: ["ViTForImageClassification"],
  attention_probs_dropout_prob: 0.0,
  encoder_stride: 16,
  hidden_act: "gelu",
  hidden_dropout_prob: 0.0,
  hidden_size: 768,
  id2label: { "0": "tench, Tinca tinca", "1": "goldfish, Carassius auratus", "2": "great white shark" },
  image_size: 224,
  initializer_range: 0.02,
  intermediate_size: 3072,
  label2id: { "tench, Tinca tinca": 0, "goldfish, Carassius auratus": 1, "great white shark": 2 },
  layer_norm_eps: 1e-12,
  model_type: "vit",
  num_attention_heads: 12,
  num_channels: 3,
  num_hidden_layers: 12,
  patch_size: 16,
  qkv_bias: true,
  torch_dtype: "float32",
  transformers_version: "4.33.0.dev0",
};

describe("Hugging Face config.json", () => {
  it("reads google/vit-base-patch16-224's config as timm's ViT-B/16 with HF's LN eps and its labels", () => {
    const { config, classes } = fromHfConfig(GOOGLE_VIT_B16);
    expect(config).toEqual(getPreset("vit_base_patch16_224", { layernorm_epsilon: 1e-12, num_classes: 3 }));
    expect(classes).toEqual(["tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark"]);
  });

  it("writes every ViTConfig field and reads back the same config", () => {
    const c = getPreset("vit_small_patch16_224", { num_classes: 3, activation: "gelu_tanh", img_w: 192 });
    const json = toHfConfig(c, ["a", "b", "c"]);
    expect(json).toMatchObject({
      architectures: ["ViTForImageClassification"],
      model_type: "vit",
      hidden_size: 384,
      num_hidden_layers: 12,
      num_attention_heads: 6,
      intermediate_size: 1536,
      hidden_act: "gelu_pytorch_tanh",
      layer_norm_eps: 1e-6,
      image_size: [224, 192],
      patch_size: 16,
      num_channels: 3,
      qkv_bias: true,
      num_labels: 3,
      id2label: { "0": "a", "1": "b", "2": "c" },
      label2id: { a: 0, b: 1, c: 2 },
    });
    expect(fromHfConfig(JSON.parse(JSON.stringify(json)))).toEqual({ config: c, classes: ["a", "b", "c"] });
  });

  it("refuses layouts HF cannot hold and configs of other models", () => {
    expect(() => toHfConfig(getPreset("B/16"))).toThrow(
      /1 class token and a linear head; this model has 8 class token\(s\) and a mlp_tanh head/,
    );
    expect(() => fromHfConfig({ model_type: "bert" }, "x/config.json")).toThrow(
      /x\/config.json: model_type is "bert", not "vit"/,
    );
  });
});
