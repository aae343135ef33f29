/**
 * Parity with PyTorch on every model fixture in ./fixtures (tooling/fixtures/make.py): torchvision's
 * VisionTransformer, a non-square patch grid, 3 heads × 3 layers (tanh GELU, no qkv bias, 1 channel) and
 * NeMo's Megatron ViT (8 class tokens, MLP-tanh head, NeMo names), each with naive and flash attention.
 * Logits and loss to 1e-4 relative, every parameter gradient to 1e-3 relative (max abs error / max abs).
 */
import { type HostTensor, toFloat32Array } from "@vit/nn";
import {
  type AttentionOptions,
  Device,
  type Tensor,
  attentionNaive,
  crossEntropy,
  flashAttention,
  scope,
  tensor,
} from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VisionTransformer, exportWeights, importWeights } from "../src/index.js";
import { MODEL_CASES, loadCase, relErr } from "./pytorch-fixtures.js";

type Attention = (q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions) => Tensor;
const ATTENTION: Record<string, Attention> = { naive: attentionNaive, flash: flashAttention };

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

describe.each(MODEL_CASES)("PyTorch parity: %s", (name) => {
  it.each(Object.keys(ATTENTION))("logits, loss and every gradient match (%s attention)", async (attn) => {
    const { config, format, weights, batch, expected } = await loadCase(name);
    const model = new VisionTransformer(dev, config, { attentionFn: ATTENTION[attn]! });
    model.loadStateDict(importWeights(weights, config, format));
    const img = batch.images!;
    const labels = Int32Array.from(batch.labels!.data as BigInt64Array, (v) => Number(v));
    const x = tensor(dev, toFloat32Array(img), img.shape);
    const y = tensor(dev, labels, [labels.length]);
    const { logits, loss } = scope(() => {
      const lg = model.forward(x);
      const l = crossEntropy(lg, y);
      l.backward();
      return { logits: lg, loss: l };
    });
    expect(relErr(await logits.data(), toFloat32Array(expected.logits!)), "logits").toBeLessThan(1e-4);
    expect(relErr(await loss.data(), toFloat32Array(expected.loss!)), "loss").toBeLessThan(1e-4);
    const grads: Record<string, HostTensor> = {};
    for (const [n, p] of model.namedParameters()) {
      grads[n] = { dtype: "F32", shape: [...p.shape], data: Float32Array.from(await p.grad!.data()) };
    }
    const foreign = exportWeights(grads, config, format);
    expect(Object.keys(foreign).sort()).toEqual(Object.keys(weights).sort());
    for (const n of Object.keys(foreign)) {
      const ref = expected[`grad.${n}`];
      expect(ref, `expected gradient for ${n}`).toBeDefined();
      expect(relErr(toFloat32Array(foreign[n]!), toFloat32Array(ref!)), `gradient of ${n}`).toBeLessThan(
        1e-3,
      );
    }
    for (const t of [x, y, logits, loss]) t.dispose();
    model.dispose();
  });
});
