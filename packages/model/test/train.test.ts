/** The NeMo-style model can learn: on a fixed batch the loss falls below 5% of its start. */
import {
  Device,
  type Tensor,
  add,
  addScalar,
  crossEntropy,
  div,
  keep,
  mul,
  mulScalar,
  noGrad,
  randn,
  scope,
  sqrt,
  sub,
  tensor,
  zeros,
} from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VisionTransformer, parseViTConfig } from "../src/index.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create({ seed: 11 });
});
afterAll(() => dev?.destroy());

async function overfit(dropout: number): Promise<{ first: number; last: number }> {
  const cfg = parseViTConfig({
    style: "nemo",
    img_h: 8,
    img_w: 8,
    num_channels: 3,
    patch_dim: 4,
    hidden_size: 32,
    ffn_hidden_size: 64,
    num_attention_heads: 4,
    num_layers: 2,
    num_classes: 4,
    hidden_dropout: dropout,
    attention_dropout: dropout,
    head_type: "mlp_tanh",
  });
  const model = new VisionTransformer(dev, cfg);
  const x = randn(dev, [8, 3, 8, 8]);
  const y = tensor(dev, Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), [8]);
  // Plain Adam written with tensor ops keeps this test independent of @vit/trainer's fused kernels.
  const params = model.parameters();
  const m = params.map((p) => keep(zeros(dev, p.shape)));
  const v = params.map((p) => keep(zeros(dev, p.shape)));
  const adamStep = (t: number, lr: number) =>
    noGrad(() =>
      params.forEach((p, i) => {
        scope(() => {
          const g = p.grad!;
          const mi = add(mulScalar(m[i]!, 0.9), mulScalar(g, 0.1));
          const vi = add(mulScalar(v[i]!, 0.999), mulScalar(mul(g, g), 0.001));
          const upd = div(mulScalar(mi, lr / (1 - 0.9 ** t)), addScalar(sqrt(mulScalar(vi, 1 / (1 - 0.999 ** t))), 1e-8));
          const np = sub(p, upd);
          for (const [dst, src] of [[p, np], [m[i]!, mi], [v[i]!, vi]] as Array<[Tensor, Tensor]>) {
            dev.copy(src.buffer, 0, dst.buffer, 0, dst.numel * 4);
          }
        });
        p.grad!.dispose();
        p.grad = null;
      }),
    );
  let first = 0;
  let last = 0;
  for (let step = 0; step < 150; step++) {
    const loss = scope(() => {
      const l = crossEntropy(model.forward(x), y);
      l.backward();
      return l;
    });
    adamStep(step + 1, 3e-3);
    await dev.throttle();
    if (step === 0) first = (await loss.data())[0]!;
    if (step === 149) last = (await loss.data())[0]!;
    loss.dispose();
  }
  expect(params.length).toBeGreaterThan(10);
  for (const t of [...m, ...v]) t.dispose();
  model.dispose();
  return { first, last };
}

describe("a NeMo-style ViT learns", () => {
  for (const p of [0, 0.1]) {
    it(`overfits a fixed batch (dropout ${p})`, async () => {
      const { first, last } = await overfit(p);
      expect(first).toBeGreaterThan(1);
      expect(last).toBeLessThan(0.05 * first);
    });
  }
});
