import type { TransformerLayer } from "@vit/nn";
/**
 * NeMo's model keys that change the maths: kv_channels (head width, so the q/k/v projection is
 * heads × kv_channels wide), drop_path_rate (stochastic depth rising linearly over the layers),
 * openai_gelu (the tanh GELU), use_scaled_init_method, normalization.
 */
import { Device, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  VisionTransformer,
  countParameters,
  dropPathRates,
  fromNeMo,
  parameterShapes,
  parseViTConfig,
  toNeMo,
} from "../src/index.js";

const base = {
  img_h: 8,
  img_w: 8,
  patch_dim: 4,
  num_channels: 1,
  num_classes: 3,
  class_token_length: 1,
  hidden_dropout: 0,
};

let dev: Device;
beforeAll(async () => {
  dev = await Device.create({ seed: 3 });
});
afterAll(() => dev?.destroy());

describe("NeMo model keys", () => {
  it("kv_channels sets the head width; heads need not divide hidden_size then", () => {
    const c = parseViTConfig({
      ...base,
      hidden_size: 10,
      num_attention_heads: 4,
      num_layers: 1,
      kv_channels: 3,
    });
    expect(c.kv_channels).toBe(3);
    const shapes = Object.fromEntries(parameterShapes(c).map((p) => [p.name, p.shape]));
    expect(shapes["blocks.0.attn.qkv.weight"]).toEqual([36, 10]);
    expect(shapes["blocks.0.attn.qkv.bias"]).toEqual([36]);
    expect(shapes["blocks.0.attn.proj.weight"]).toEqual([10, 12]);
    // null means unset (hidden / heads), as in NeMo.
    expect(
      parseViTConfig({ ...base, hidden_size: 8, num_attention_heads: 2, num_layers: 1, kv_channels: null })
        .kv_channels,
    ).toBe(4);
    expect(() => parseViTConfig({ ...base, hidden_size: 10, num_attention_heads: 4, num_layers: 1 })).toThrow(
      /or set kv_channels/,
    );
  });

  it("a ViT with kv_channels has the layout's shapes and counts; NeMo's interleaved qkv round-trips", async () => {
    const c = parseViTConfig({
      ...base,
      hidden_size: 10,
      num_attention_heads: 2,
      num_layers: 2,
      kv_channels: 7,
      ffn_hidden_size: 12,
    });
    const m = new VisionTransformer(dev, c);
    const got = Object.fromEntries(m.namedParameters().map(([n, p]) => [n, [...p.shape]]));
    expect(got).toEqual(Object.fromEntries(parameterShapes(c).map((p) => [p.name, p.shape])));
    expect(m.parameters().reduce((a, p) => a + p.numel, 0)).toBe(countParameters(c).total);
    const logits = m.forward(tensor(dev, new Float32Array(2 * 64).fill(0.5), [2, 1, 8, 8]));
    expect(logits.shape).toEqual([2, 3]);
    const sd = await m.stateDictHost();
    const back = fromNeMo(toNeMo(sd, c), c);
    expect(Array.from(back["blocks.1.attn.qkv.weight"]!.data as Float32Array)).toEqual(
      Array.from(sd["blocks.1.attn.qkv.weight"]!.data as Float32Array),
    );
    m.dispose();
  });

  it("drop_path_rate rises linearly from 0 at the first layer to the rate at the last (linspace)", () => {
    const c = parseViTConfig({
      ...base,
      hidden_size: 8,
      num_attention_heads: 2,
      num_layers: 5,
      drop_path_rate: 0.2,
    });
    expect(dropPathRates(c).map((r) => +r.toFixed(12))).toEqual([0, 0.05, 0.1, 0.15, 0.2]);
    expect(dropPathRates({ drop_path_rate: 0.3, num_layers: 1 })).toEqual([0]);
    const m = new VisionTransformer(dev, c);
    const rates = Array.from({ length: 5 }, (_, i) => (m.blocks.at(i) as TransformerLayer).drop_path.p);
    expect(rates).toEqual(dropPathRates(c));
    m.dispose();
    expect(() =>
      parseViTConfig({ ...base, hidden_size: 8, num_attention_heads: 2, num_layers: 1, drop_path_rate: 1 }),
    ).toThrow(/drop_path_rate/);
  });

  it("in eval mode drop path changes nothing: same logits as drop_path_rate 0 with the same weights", async () => {
    const mk = (rate: number) =>
      new VisionTransformer(
        dev,
        parseViTConfig({
          ...base,
          hidden_size: 8,
          num_attention_heads: 2,
          num_layers: 3,
          drop_path_rate: rate,
        }),
      );
    const a = mk(0.5);
    const b = mk(0);
    b.loadStateDict(await a.stateDictHost());
    a.eval();
    b.eval();
    const x = tensor(
      dev,
      Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i)),
      [2, 1, 8, 8],
    );
    expect(Array.from((await a.forward(x).data()) as Float32Array)).toEqual(
      Array.from((await b.forward(x).data()) as Float32Array),
    );
    // In training the rate-0.5 model drops branches: its logits differ.
    a.train();
    b.train();
    const ta = (await a.forward(x).data()) as Float32Array;
    const tb = (await b.forward(x).data()) as Float32Array;
    expect(Array.from(ta)).not.toEqual(Array.from(tb));
    a.dispose();
    b.dispose();
  });

  it("openai_gelu means the tanh GELU; normalization accepts only layernorm; scaled init follows the key", () => {
    const c = { ...base, hidden_size: 8, num_attention_heads: 2, num_layers: 1 };
    expect(parseViTConfig({ ...c, openai_gelu: true }).activation).toBe("gelu_tanh");
    expect(parseViTConfig({ ...c, openai_gelu: false }).activation).toBe("gelu");
    expect(() => parseViTConfig({ ...c, openai_gelu: true, activation: "gelu" })).toThrow(
      /openai_gelu: true contradicts activation 'gelu'/,
    );
    expect(parseViTConfig({ ...c, normalization: "layernorm" }).hidden_size).toBe(8);
    expect(() => parseViTConfig({ ...c, normalization: "rmsnorm" })).toThrow(
      /only 'layernorm' is implemented/,
    );
    expect(parseViTConfig({ ...c, style: "nemo" }).use_scaled_init_method).toBe(true);
    expect(parseViTConfig({ ...c, style: "timm" }).use_scaled_init_method).toBe(false);
  });
});
