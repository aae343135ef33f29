import { type Batch, DataLoader, fromBfloat16, normalize, synthetic, toBfloat16 } from "@vit/data";
import { Device } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchToTensor, buildModel, buildOptimizer, trainStep } from "../src/index.js";
import { tinyConfig } from "./helpers.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

const cfg = tinyConfig({ hidden_dropout: 0, attention_dropout: 0 });

/** The first batch of a loader over the tiny config's synthetic set, normalised (non-integer pixels). */
async function firstBatch(dtype: "float32" | "bfloat16"): Promise<Batch> {
  const ds = synthetic({ length: 64, height: 8, width: 8, channels: 1, numClasses: 4, seed: 3 });
  const loader = new DataLoader(ds, {
    batchSize: 16,
    numWorkers: 0,
    dtype,
    transforms: [normalize([0.5], [0.3])],
  });
  for await (const b of loader) return b;
  throw new Error("empty loader"); // bug, not user input
}

/** One training step (the Trainer's trainStep) from the same initial weights: forward, CE, backward, AdamW. */
async function step(batch: Batch): Promise<{ loss: number; params: Float32Array[] }> {
  dev.rng = { seed: 7, offset: 0 };
  const model = buildModel(dev, cfg);
  const optimizer = buildOptimizer(model, cfg);
  const setup = {
    device: dev,
    model,
    optimizer,
    half: null,
    scaler: null,
    gradientClipVal: 0,
    labelSmoothing: 0,
  };
  const [loss] = (await trainStep(setup, [batch], { lr: 1e-2 })).losses;
  const out = { loss: ((await loss!.data()) as Float32Array)[0]!, params: [] as Float32Array[] };
  for (const p of model.parameters()) out.params.push((await p.data()) as Float32Array);
  loss!.dispose();
  optimizer.dispose();
  model.dispose();
  return out;
}

describe("batchToTensor", () => {
  it("widens bfloat16 loader batches to their values (not their bit patterns), f32 and uint8 by value", async () => {
    const f = await firstBatch("float32");
    const h = await firstBatch("bfloat16");
    expect(h.images).toBeInstanceOf(Uint16Array);
    const got = (await batchToTensor(dev, h).data()) as Float32Array;
    // Exactly the f32 batch rounded to bf16 (the loader's rounding), so within 2^-8 relative of it.
    expect(Array.from(got)).toEqual(Array.from(fromBfloat16(toBfloat16(f.images as Float32Array))));
    const f32 = f.images as Float32Array;
    for (let i = 0; i < got.length; i++)
      expect(Math.abs(got[i]! - f32[i]!)).toBeLessThanOrEqual(Math.abs(f32[i]!) * 2 ** -8);
    expect(Array.from((await batchToTensor(dev, f).data()) as Float32Array)).toEqual(Array.from(f32));
    const u8 = Uint8Array.from([0, 1, 128, 255, 7, 9]);
    expect(
      Array.from((await batchToTensor(dev, { images: u8, shape: [1, 1, 2, 3] }).data()) as Float32Array),
    ).toEqual([0, 1, 128, 255, 7, 9]);
  });

  it("a training step on bfloat16 batches equals the step on the f32 batch rounded to bf16, and is near the f32 step", async () => {
    const f = await firstBatch("float32");
    const h = await firstBatch("bfloat16");
    const rounded: Batch = { ...f, images: fromBfloat16(toBfloat16(f.images as Float32Array)) };
    const onBf16 = await step(h);
    const onRounded = await step(rounded);
    const onF32 = await step(f);
    expect(onBf16.loss).toBe(onRounded.loss);
    onBf16.params.forEach((p, i) => expect(Array.from(p)).toEqual(Array.from(onRounded.params[i]!)));
    // Inputs within 2^-8 relative: the loss moves by far less than its size (ln 4 on random weights).
    expect(Math.abs(onBf16.loss - onF32.loss)).toBeLessThan(1e-2);
    expect(Math.abs(onF32.loss - Math.log(4))).toBeLessThan(0.5);
  });
});
