import {
  type HostTensor,
  f32ArrayToBf16,
  loadSafetensors,
  parseSafetensors,
  serializeSafetensors,
} from "@vit/nn";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type StateDict,
  type ViTConfig,
  WeightMappingError,
  detectFormat,
  exportWeights,
  fromHF,
  fromNeMo,
  fromTimm,
  getPreset,
  importWeights,
  parameterShapes,
  parseViTConfig,
  permuteData,
  toHF,
  toNeMo,
  toTimm,
} from "../src/index.js";
import { fixturePath, loadCase, readCaseConfig } from "./pytorch-fixtures.js";

function bytes(t: HostTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectBitIdentical(a: StateDict, b: StateDict) {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    expect(b[k]!.dtype, k).toBe(a[k]!.dtype);
    expect(b[k]!.shape, k).toEqual(a[k]!.shape);
    expect(bytes(b[k]!).equals(bytes(a[k]!)), k).toBe(true);
  }
}

/** Ours-layout weights for `c` with distinct values (index-coded), in F32 or BF16. */
function synthetic(c: ViTConfig, dtype: "F32" | "BF16" = "F32"): StateDict {
  const sd: StateDict = {};
  let k = 0;
  for (const { name, shape } of parameterShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = new Float32Array(n).map(() => (k++ % 9973) / 7 - 700);
    sd[name] = dtype === "F32" ? { dtype, shape, data: f } : { dtype, shape, data: f32ArrayToBf16(f) };
  }
  return sd;
}

// torchvision's ViT in timm names (32x32, patch 8, hidden 64, 2 layers), from tooling/fixtures/make.py.
let timmSd: StateDict;
let cfg: ViTConfig;
beforeAll(async () => {
  timmSd = await loadSafetensors(fixturePath("vit-tiny-p8", "weights.safetensors"));
  cfg = readCaseConfig("vit-tiny-p8").config;
});

describe("timm", () => {
  it("fixture timm → ours → timm is bit-identical", () => {
    const ours = fromTimm(timmSd, cfg);
    expect(ours["patch_embed.proj.weight"]!.shape).toEqual([64, 8 * 8 * 3]);
    expect(Object.keys(ours)).toEqual(parameterShapes(cfg).map((p) => p.name));
    expectBitIdentical(timmSd, toTimm(ours, cfg));
  });

  it("the patch weight moves to (p1 p2 c) order: W_conv[o,c,i,j] = W_ours[o,(i·P+j)·C+c]", () => {
    const ours = fromTimm(timmSd, cfg);
    const conv = timmSd["patch_embed.proj.weight"]!.data as Float32Array;
    const lin = ours["patch_embed.proj.weight"]!.data as Float32Array;
    const [D, C, P] = [64, 3, 8];
    for (let o = 0; o < D; o++)
      for (let c = 0; c < C; c++)
        for (let i = 0; i < P; i++)
          for (let j = 0; j < P; j++) {
            const v = conv[((o * C + c) * P + i) * P + j]!;
            if (lin[o * P * P * C + (i * P + j) * C + c] !== v)
              throw new Error(`mismatch at ${o},${c},${i},${j}`);
          }
    // One concrete element, by hand: o=1, c=2, i=3, j=4.
    expect(lin[1 * 192 + (3 * 8 + 4) * 3 + 2]).toBe(conv[((1 * 3 + 2) * 8 + 3) * 8 + 4]);
  });

  it("permuteData matches an explicit transpose, also for BigInt64Array", () => {
    const a = new BigInt64Array([0n, 1n, 2n, 3n, 4n, 5n]); // [2, 3]
    expect(Array.from(permuteData(a, [2, 3], [1, 0]) as BigInt64Array)).toEqual([0n, 3n, 1n, 4n, 2n, 5n]);
  });
});

describe("Hugging Face", () => {
  it("ours → HF → ours is bit-identical, with HF's names", () => {
    const ours = fromTimm(timmSd, cfg);
    const hf = toHF(ours, cfg);
    for (const k of [
      "vit.embeddings.cls_token",
      "vit.embeddings.position_embeddings",
      "vit.embeddings.patch_embeddings.projection.weight",
      "vit.encoder.layer.1.layernorm_before.bias",
      "vit.encoder.layer.0.attention.attention.value.weight",
      "vit.encoder.layer.0.attention.output.dense.weight",
      "vit.encoder.layer.0.layernorm_after.weight",
      "vit.encoder.layer.0.intermediate.dense.weight",
      "vit.encoder.layer.0.output.dense.bias",
      "vit.layernorm.weight",
      "classifier.weight",
    ]) {
      expect(hf).toHaveProperty([k]);
    }
    expect(Object.keys(hf)).toHaveLength(Object.keys(ours).length + 2 * 2 * 2); // qkv w+b → 3 each, 2 layers
    expect(hf["vit.encoder.layer.0.intermediate.dense.weight"]!.shape).toEqual([256, 64]);
    // HF keeps timm's conv layout.
    expect(
      bytes(hf["vit.embeddings.patch_embeddings.projection.weight"]!).equals(
        bytes(timmSd["patch_embed.proj.weight"]!),
      ),
    ).toBe(true);
    expectBitIdentical(ours, fromHF(hf, cfg));
  });

  it("qkv split: key.weight[r, j] = qkv.weight[D + r, j] and value.bias[r] = qkv.bias[2D + r]", () => {
    const ours = fromTimm(timmSd, cfg);
    const hf = toHF(ours, cfg);
    const D = 64;
    const qkv = ours["blocks.1.attn.qkv.weight"]!.data as Float32Array;
    const key = hf["vit.encoder.layer.1.attention.attention.key.weight"]!;
    expect(key.shape).toEqual([D, D]);
    expect((key.data as Float32Array)[5 * D + 7]).toBe(qkv[(D + 5) * D + 7]);
    const vb = hf["vit.encoder.layer.1.attention.attention.value.bias"]!.data as Float32Array;
    expect(vb[9]).toBe((ours["blocks.1.attn.qkv.bias"]!.data as Float32Array)[2 * D + 9]);
  });

  it("refuses mlp_tanh heads (ViTForImageClassification has no pre-logits layer)", () => {
    const c = getPreset("tiny");
    expect(() => toHF(synthetic(c), c)).toThrow(/head_type 'mlp_tanh' cannot be exported/);
  });
});

describe("NeMo", () => {
  const nemoCfg = () => getPreset("tiny"); // 8 class tokens, mlp_tanh head, 4 heads of 32

  it("ours → NeMo → ours is bit-identical (F32 and BF16), with Megatron names", () => {
    const c = nemoCfg();
    for (const dtype of ["F32", "BF16"] as const) {
      const ours = synthetic(c, dtype);
      const nemo = toNeMo(ours, c);
      expect(nemo["model.backbone.cls_token"]!.shape).toEqual([1, 8, 128]);
      expect(nemo["model.backbone.position_embeddings.weight"]!.shape).toEqual([24, 128]);
      expect(nemo["model.backbone.linear_encoder.weight"]!.shape).toEqual([128, 49]);
      for (const k of [
        "model.backbone.transformer.layers.3.input_layernorm.weight",
        "model.backbone.transformer.layers.0.self_attention.query_key_value.bias",
        "model.backbone.transformer.layers.0.self_attention.dense.weight",
        "model.backbone.transformer.layers.0.post_attention_layernorm.bias",
        "model.backbone.transformer.layers.0.mlp.dense_h_to_4h.weight",
        "model.backbone.transformer.layers.0.mlp.dense_4h_to_h.weight",
        "model.backbone.transformer.final_layernorm.weight",
        "model.head.dense_in.weight",
        "model.head.dense_out.bias",
      ]) {
        expect(nemo).toHaveProperty([k]);
      }
      expect(Object.keys(nemo)).toHaveLength(Object.keys(ours).length);
      expect(nemo["model.head.dense_out.bias"]!.dtype).toBe(dtype);
      expectBitIdentical(ours, fromNeMo(nemo, c));
    }
  });

  it("qkv interleave: Megatron row h·3·hd + s·hd + d = our row s·D + h·hd + d", () => {
    const c = nemoCfg();
    const ours = synthetic(c);
    const nemo = toNeMo(ours, c);
    const [D, hd] = [128, 32];
    const w = ours["blocks.2.attn.qkv.weight"]!.data as Float32Array;
    const m = nemo["model.backbone.transformer.layers.2.self_attention.query_key_value.weight"]!
      .data as Float32Array;
    for (const [h, s, d, j] of [
      [0, 0, 0, 0],
      [1, 1, 5, 7],
      [3, 2, 31, 127],
      [2, 0, 17, 64],
    ] as const) {
      expect(m[(h * 3 * hd + s * hd + d) * D + j]).toBe(w[(s * D + h * hd + d) * D + j]);
    }
    const b = ours["blocks.2.attn.qkv.bias"]!.data as Float32Array;
    const mb = nemo["model.backbone.transformer.layers.2.self_attention.query_key_value.bias"]!
      .data as Float32Array;
    expect(mb[1 * 3 * hd + 2 * hd + 3]).toBe(b[2 * D + 1 * hd + 3]); // head 1, value, d 3
    // Row 32 of Megatron's is head 0's key row 0; ours has it at D.
    expect(Array.from(m.subarray(32 * D, 33 * D))).toEqual(Array.from(w.subarray(D * D, D * D + D)));
  });

  it("fixture timm → ours → NeMo (linear head, custom prefix) → ours → timm is bit-identical", () => {
    const nemo = toNeMo(fromTimm(timmSd, cfg), cfg, { prefix: "" });
    expect(nemo).toHaveProperty(["head.weight"]);
    expect(nemo).toHaveProperty(["backbone.transformer.layers.1.mlp.dense_4h_to_h.bias"]);
    expectBitIdentical(timmSd, toTimm(fromNeMo(nemo, cfg, { prefix: "" }), cfg));
  });

  it("PyTorch's Megatron layout (fixture vit-nemo-8cls) → ours → NeMo is bit-identical", async () => {
    const { weights, config } = await loadCase("vit-nemo-8cls");
    expect(detectFormat(weights)).toBe("nemo");
    const ours = importWeights(weights, config);
    expect(ours.cls_token!.shape).toEqual([1, 8, 32]);
    expect(ours.pos_embed!.shape).toEqual([1, 24, 32]);
    expect(ours["pre_logits.fc.weight"]!.shape).toEqual([32, 32]);
    expectBitIdentical(weights, toNeMo(ours, config));
  });

  it("survives a safetensors round trip in NeMo names", () => {
    const c = nemoCfg();
    const ours = synthetic(c);
    const file = serializeSafetensors(toNeMo(ours, c), { format: "nemo" });
    expectBitIdentical(ours, importWeights(parseSafetensors(file).tensors, c));
  });
});

describe("format detection and errors", () => {
  it("detects every format; timm vs ours needs shapes", () => {
    const ours = fromTimm(timmSd, cfg);
    expect(detectFormat(timmSd)).toBe("timm");
    expect(detectFormat(ours)).toBe("vit");
    expect(detectFormat(Object.keys(ours))).toBe("timm"); // names alone are ambiguous
    expect(detectFormat(toHF(ours, cfg))).toBe("hf");
    expect(detectFormat(Object.keys(toNeMo(ours, cfg)))).toBe("nemo");
    expect(() => detectFormat(["foo.bar"])).toThrow(WeightMappingError);
  });

  it("importWeights/exportWeights dispatch by format", () => {
    const ours = importWeights(timmSd, cfg);
    expectBitIdentical(ours, importWeights(exportWeights(ours, cfg, "hf"), cfg));
    expectBitIdentical(ours, importWeights(ours, cfg));
    expectBitIdentical(timmSd, exportWeights(ours, cfg, "timm"));
  });

  it("names missing and unexpected keys, wrong shapes, and hints at the format", () => {
    const sd = Object.fromEntries(Object.entries(timmSd).filter(([k]) => k !== "blocks.1.norm2.bias"));
    sd["blocks.1.extra"] = sd["norm.bias"]!;
    expect(() => fromTimm(sd, cfg)).toThrow(
      /missing keys: blocks\.1\.norm2\.bias[\s\S]*unexpected keys: blocks\.1\.extra/,
    );
    expect(() => fromTimm({ ...timmSd, junk: timmSd["norm.bias"]! }, cfg, { strict: false })).not.toThrow();
    expect(() => fromHF(timmSd, cfg)).toThrow(/these look like 'timm' weights/);
    const other = parseViTConfig({ ...cfg, img_h: 48, img_w: 48, encoder_seq_length: undefined });
    expect(() => fromTimm(timmSd, other)).toThrow(
      /pos_embed: shape \[1, 17, 64\], config expects \[1, 37, 64\][\s\S]*resamplePosEmbed/,
    );
    expect(() => toTimm(timmSd, cfg)).toThrow(
      /patch_embed\.proj\.weight: shape \[64, 3, 8, 8\], config expects \[64, 192\]/,
    );
  });
});
