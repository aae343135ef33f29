/**
 * Activation checkpointing (NeMo's activations_checkpoint_method / _num_layers / _granularity, in
 * both encoders, one implementation): with dropout on, the recomputation replays the same dropout masks, so gradients equal the
 * un-checkpointed run's; and the peak memory of forward + backward goes down. Memory is counted by the
 * caching allocator (live bytes), not timed, so asserting it is deterministic.
 */
import { backwardAsync, createInProcessGroups } from "@vit/parallel";
import { Device, crossEntropy, scope, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActivationCheckpointing, TensorParallelViT, VisionTransformer } from "../src/index.js";
import { gradsOf, hostRandom, relErr, tinyViT } from "./helpers.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create({ seed: 21 });
});
afterAll(() => dev?.destroy());

/** 4 layers, hidden 64, 64 patches + 1 class token = 65 tokens, dropout on. */
const CONFIG = () =>
  tinyViT({
    img_h: 32,
    img_w: 32,
    patch_dim: 4,
    hidden_size: 64,
    ffn_hidden_size: 256,
    num_attention_heads: 4,
    num_layers: 4,
    hidden_dropout: 0.1,
    attention_dropout: 0.1,
  });

describe("activation checkpointing (4 layers, hidden 64, sequence 65, dropout 0.1)", () => {
  it("gives the same gradients as no checkpointing and a lower peak for every method/granularity", async () => {
    const cfg = CONFIG();
    const model = new VisionTransformer(dev, cfg);
    model.train();
    const B = 2;
    const x = tensor(dev, hostRandom(B * 3 * 32 * 32, 5), [B, 3, 32, 32]);
    const y = tensor(dev, Int32Array.from([1, 3]), [B]);

    const run = async (ck: ActivationCheckpointing | null, rngOffset = 1000) => {
      model.checkpointing = ck;
      for (const p of model.parameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
      dev.rng.offset = rngOffset; // the same dropout masks in every run
      await dev.sync();
      dev.resetPeak();
      const base = dev.memoryStats().liveBytes;
      scope(() => crossEntropy(model.forward(x), y).backward());
      const peak = dev.memoryStats().peakBytes - base;
      return { peak, grads: await gradsOf(model) };
    };

    const plain = await run(null);
    // Dropout is really on: other masks give other gradients.
    const other = await run(null, 5000);
    expect(
      relErr(other.grads["blocks.0.attn.qkv.weight"]!, plain.grads["blocks.0.attn.qkv.weight"]!),
    ).toBeGreaterThan(1e-3);
    const variants: Array<[string, ActivationCheckpointing]> = [
      ["uniform, 1 layer, full", { method: "uniform", num_layers: 1, granularity: "full" }],
      ["uniform, 2 layers, full", { method: "uniform", num_layers: 2, granularity: "full" }],
      ["block, 2 layers, full", { method: "block", num_layers: 2, granularity: "full" }],
      ["selective", { method: "uniform", num_layers: 1, granularity: "selective" }],
    ];
    const lines = [`no checkpointing: peak ${plain.peak} B`];
    for (const [name, ck] of variants) {
      const r = await run(ck);
      let worst = 0;
      for (const [n, g] of Object.entries(plain.grads)) worst = Math.max(worst, relErr(r.grads[n]!, g));
      lines.push(
        `${name}: peak ${r.peak} B (${(r.peak / plain.peak).toFixed(3)}×), max grad rel. diff ${worst.toExponential(2)}`,
      );
      expect(worst, name).toBeLessThan(1e-6);
      expect(r.peak, name).toBeLessThan(plain.peak);
      if (name.startsWith("uniform, 1")) expect(r.peak / plain.peak).toBeLessThan(0.75);
    }
    console.log(`activation checkpointing: ${lines.join("; ")}`);
    model.dispose();
  });

  it("inside tensor-parallel layers (checkpointAsync): the same gradients with dropout, and a lower peak", async () => {
    // One rank, so that no other rank's scopes interleave in this process; the same code runs under TP = N
    // (apps/cli tests TP = 2 runs with and without checkpointing: bit-identical losses).
    const cfg = CONFIG();
    const [group] = createInProcessGroups(1);
    const B = 2;
    const x = tensor(dev, hostRandom(B * 3 * 32 * 32, 6), [B, 3, 32, 32]);
    const y = tensor(dev, Int32Array.from([2, 0]), [B]);
    const ref = new VisionTransformer(dev, cfg);
    const sd = await ref.stateDictHost();
    ref.dispose();
    const run = async (ck: ActivationCheckpointing | null) => {
      const model = new TensorParallelViT(dev, cfg, group!, { checkpointing: ck });
      model.loadStateDict(sd);
      model.train();
      dev.rng.offset = 1000;
      await dev.sync();
      dev.resetPeak();
      const base = dev.memoryStats().liveBytes;
      await scope(async () => backwardAsync(crossEntropy(await model.forward(x), y)));
      const peak = dev.memoryStats().peakBytes - base;
      const grads = await gradsOf(model);
      model.dispose();
      return { peak, grads };
    };
    const plain = await run(null);
    const lines = [`no checkpointing: peak ${plain.peak} B`];
    for (const ck of [
      { method: "uniform", num_layers: 1, granularity: "full" },
      { method: "block", num_layers: 2, granularity: "full" },
    ] as ActivationCheckpointing[]) {
      const r = await run(ck);
      let worst = 0;
      for (const [n, g] of Object.entries(plain.grads)) worst = Math.max(worst, relErr(r.grads[n]!, g));
      lines.push(
        `${ck.method} ${ck.num_layers}: peak ${r.peak} B (${(r.peak / plain.peak).toFixed(3)}×), max grad rel. diff ${worst}`,
      );
      expect(worst, ck.method).toBe(0);
      expect(r.peak, ck.method).toBeLessThan(plain.peak);
    }
    console.log(`tensor-parallel activation checkpointing: ${lines.join("; ")}`);
  });
});
