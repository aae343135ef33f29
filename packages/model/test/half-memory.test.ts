/**
 * Mixed precision must shrink what the forward keeps for backward, as torch.autocast does: the activations
 * inside every block (matmul outputs, attention scores and probabilities, GELU input and output, LayerNorm
 * outputs) are stored in the half type; the residual stream stays f32 (f32 + half promotes, as in torch). Measured with the allocator's
 * live bytes around forward + loss of a small ViT, f32 against bf16 and f16 autocast; the expected saving
 * is computed from the tensor shapes (no measured number is written here).
 */
import { Device, autocast, crossEntropy, randn, scope, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VisionTransformer, parseViTConfig } from "../src/index.js";

// Known before the device exists: Dawn's adapter on this host is what Device.create() will open.
const hasF16 = await Device.create().then((d) => {
  const yes = d.hasFeature("shader-f16");
  d.destroy();
  return yes;
});
let dev: Device;
beforeAll(async () => {
  dev = await Device.create({ seed: 3 });
});
afterAll(() => dev?.destroy());

// Every activation here is a multiple of 256 bytes and at most 64 KiB in each dtype, so the allocator's
// size classes (256-byte steps up to 64 KiB) hold each tensor at exactly its own size.
const B = 4;
const cfg = parseViTConfig({
  style: "nemo",
  img_h: 16,
  img_w: 16,
  num_channels: 3,
  patch_dim: 4,
  hidden_size: 32,
  ffn_hidden_size: 64,
  num_attention_heads: 2,
  num_layers: 2,
  num_classes: 4,
  class_token_length: 8,
  hidden_dropout: 0,
  attention_dropout: 0,
  head_type: "linear",
});

/** Bytes live after forward + loss (everything the step holds until backward), then backward runs. */
function heldForBackward(half: "bf16" | "f16" | null): number {
  const model = new VisionTransformer(dev, cfg);
  model.train();
  const x = randn(dev, [B, cfg.num_channels, cfg.img_h, cfg.img_w]);
  const y = tensor(
    dev,
    Int32Array.from({ length: B }, (_, i) => i % cfg.num_classes),
    [B],
  );
  let held = 0;
  scope(() => {
    const before = dev.memoryStats().liveBytes;
    const loss = autocast(half, () => crossEntropy(model.forward(x), y));
    held = dev.memoryStats().liveBytes - before;
    loss.backward();
  });
  model.dispose();
  x.dispose();
  y.dispose();
  return held;
}

describe("activation memory under mixed precision", () => {
  const S = (cfg.img_h / cfg.patch_dim) * (cfg.img_w / cfg.patch_dim) + cfg.class_token_length;
  const T = B * S;
  const D = cfg.hidden_size;
  const F = cfg.ffn_hidden_size;
  const H = cfg.num_attention_heads;
  const P = cfg.patch_dim * cfg.patch_dim * cfg.num_channels;
  // Elements each block keeps in f32 that autocast keeps in half: LN1 out, qkv, q/k/v (packedAttention
  // splits qkv straight into the heads), scores, probabilities, attention out, merged heads, LN2 out,
  // fc1 out (GELU), its pre-activation. (proj and fc2 add the f32 residual: their outputs are the f32
  // stream in both runs.)
  const perBlock = T * D + 3 * T * D + 3 * T * D + 2 * B * H * S * S + 2 * T * D + T * D + 2 * T * F;
  const A = cfg.num_layers * perBlock;
  // What autocast adds: a half copy of each matmul weight (patch embedding, qkv, proj, fc1, fc2, head).
  const W = P * D + cfg.num_layers * (3 * D * D + D * D + 2 * D * F) + D * cfg.num_classes;
  // Slack for the embedding and the head: the half patch embedding is widened once to concatenate with
  // the f32 class tokens, and the logits once for the f32 loss (at most one f32 [B, S, D] in all).
  const slack = 4 * T * D;

  it("f32 keeps at least the blocks' activations in 4 bytes each (the accounting below is not inflated)", () => {
    expect(heldForBackward(null)).toBeGreaterThanOrEqual(4 * A);
  });

  for (const half of ["bf16", "f16"] as const) {
    const skip = half === "f16" && !hasF16;
    it.skipIf(skip)(
      `${half} autocast keeps those activations in 2 bytes each${skip ? " (skipped: no shader-f16)" : ""}`,
      () => {
        const f32 = heldForBackward(null);
        const h = heldForBackward(half);
        // Every block activation saves 2 bytes per element; the weight copies and the slack cost some back.
        expect(f32 - h).toBeGreaterThanOrEqual(2 * A - 2 * W - slack);
      },
    );
  }
});
