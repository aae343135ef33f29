/**
 * Parity with PyTorch: torchvision's VisionTransformer (timm names) in ../shared/fixtures/vit-tiny-p8.
 * Logits and loss to 1e-4 relative, every parameter gradient to 1e-3 relative.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type HostTensor, loadSafetensors, toFloat32Array } from "@vit/nn";
import { Device, crossEntropy, scope, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VisionTransformer, fromTimm, parseViTConfig, toTimm } from "../src/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const FIX = [join(here, "../../../../shared/fixtures/vit-tiny-p8"), join(here, "../../../shared/fixtures/vit-tiny-p8")].find(existsSync)!;

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

describe("PyTorch parity (vit-tiny-p8 fixture)", () => {
  it("logits, loss and every gradient match torchvision", async () => {
    expect(FIX, "fixture folder ../shared/fixtures/vit-tiny-p8").toBeTruthy();
    const config = parseViTConfig({
      style: "timm",
      num_layers: 2,
      hidden_size: 64,
      ffn_hidden_size: 256,
      num_attention_heads: 4,
      patch_dim: 8,
      img_h: 32,
      img_w: 32,
      num_channels: 3,
      num_classes: 10,
      class_token_length: 1,
      hidden_dropout: 0,
      attention_dropout: 0,
      layernorm_epsilon: 1e-6,
      head_type: "linear",
    });
    const weights = await loadSafetensors(join(FIX, "weights.safetensors"));
    const batch = await loadSafetensors(join(FIX, "batch.safetensors"));
    const expected = await loadSafetensors(join(FIX, "expected.safetensors"));
    const model = new VisionTransformer(dev, config);
    model.loadStateDict(fromTimm(weights, config));
    const img = batch.images!;
    const labels = Int32Array.from(Array.from(batch.labels!.data as BigInt64Array, (v) => Number(v)));
    const x = tensor(dev, toFloat32Array(img), img.shape);
    const y = tensor(dev, labels, [labels.length]);
    const { logits, loss } = scope(() => {
      const lg = model.forward(x);
      const l = crossEntropy(lg, y);
      l.backward();
      return { logits: lg, loss: l };
    });
    expect(relErr(await logits.data(), toFloat32Array(expected.logits!))).toBeLessThan(1e-4);
    expect(relErr(await loss.data(), toFloat32Array(expected.loss!))).toBeLessThan(1e-4);
    const grads: Record<string, HostTensor> = {};
    for (const [name, p] of model.namedParameters()) {
      grads[name] = { dtype: "F32", shape: [...p.shape], data: Float32Array.from(await p.grad!.data()) };
    }
    const timmGrads = toTimm(grads, config);
    const names = Object.keys(timmGrads);
    expect(names.length).toBe(Object.keys(weights).length);
    for (const n of names) {
      const ref = expected[`grad.${n}`];
      expect(ref, `expected gradient for ${n}`).toBeDefined();
      expect(relErr(toFloat32Array(timmGrads[n]!), toFloat32Array(ref!)), `gradient of ${n}`).toBeLessThan(1e-3);
    }
    model.dispose();
  });
});
