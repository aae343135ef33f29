/**
 * A run never reports what it did not measure: ties and NaN logits score as wrong, a diverged model is never
 * saved (nor as best) and the error names a checkpoint that really is good, optimizer state of the wrong
 * dtype is refused, metrics measured on the training data say so, and a data set too small for one batch is
 * refused instead of spinning forever.
 */
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataLoader, type IterableDataset, encodeImage } from "@vit/data";
import { VisionTransformer } from "@vit/model";
import {
  type HostTensor,
  loadSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  toFloat32Array,
} from "@vit/nn";
import { Device, noGrad, scope, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CheckpointError,
  ConfigError,
  NonFiniteLogitsError,
  NonFiniteLossError,
  Trainer,
  buildLoader,
  evaluate,
  scoreLogits,
  vitConfigOf,
} from "../src/index.js";
import { tinyConfig } from "./helpers.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

/** Reference top-k in float64, written independently of scoreLogits: sort the classes, best first. */
function referenceTopK(logits: Float32Array, labels: Int32Array, classes: number, k: number): number {
  let hits = 0;
  for (let r = 0; r < labels.length; r++) {
    const row = Array.from(logits.subarray(r * classes, (r + 1) * classes));
    if (row.some((v) => !Number.isFinite(v))) continue;
    const y = labels[r]!;
    // Stable sort with the target placed after every class it ties with: ties never count for it.
    const order = [...row.keys()].sort((a, b) => row[b]! - row[a]! || (a === y ? 1 : b === y ? -1 : a - b));
    if (order.indexOf(y) < k) hits++;
  }
  return hits;
}

/** The logits of every test batch, on the host. */
async function allLogits(model: VisionTransformer, loader: DataLoader) {
  const out: Array<{ logits: Float32Array; labels: Int32Array }> = [];
  model.eval();
  for await (const b of loader) {
    const images = b.images instanceof Float32Array ? b.images : Float32Array.from(b.images);
    const t = scope(() => noGrad(() => model.forward(tensor(dev, images, b.shape))));
    out.push({ logits: (await t.data()) as Float32Array, labels: b.labels });
    t.dispose();
  }
  return out;
}

/** True when every model tensor of a checkpoint file is finite (checked on the host, element by element). */
async function finiteWeights(path: string): Promise<boolean> {
  const sd = await loadSafetensors(path);
  return Object.entries(sd)
    .filter(([k]) => k.startsWith("model."))
    .every(([, t]) => toFloat32Array(t).every(Number.isFinite));
}

describe("evaluation scores", () => {
  it("constant logits (a zero head) score 0 top-1 and 0 top-5 of 10 classes, as the float64 reference does", async () => {
    const cfg = tinyConfig({
      num_classes: 10,
      data: { dataset: "synthetic", synthetic_size: 48, num_workers: 0 },
    });
    // NeMo's fine-tuning head starts at zero: every logit of a fresh model is 0.
    const model = new VisionTransformer(dev, vitConfigOf(cfg.model));
    const loader = await buildLoader(cfg, "test");
    const batches = await allLogits(model, loader);
    expect(batches.flatMap((b) => Array.from(b.logits)).every((v) => v === 0)).toBe(true);
    const r = await evaluate(model, loader);
    expect(r.images).toBe(48);
    const ref1 = batches.reduce((a, b) => a + referenceTopK(b.logits, b.labels, 10, 1), 0);
    const ref5 = batches.reduce((a, b) => a + referenceTopK(b.logits, b.labels, 10, 5), 0);
    expect([r.top1, r.top5]).toEqual([ref1 / 48, ref5 / 48]);
    expect([r.top1, r.top5]).toEqual([0, 0]);
    expect(r.loss).toBeCloseTo(Math.log(10), 5);

    // A model with a real head: the same scores as the reference.
    const sd = await model.stateDictHost();
    const w = sd["head.weight"]!.data as Float32Array;
    for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 1.7) * 0.5;
    model.loadStateDict(sd);
    const trained = await allLogits(model, loader);
    const s = await evaluate(model, loader);
    expect(s.top1 * 48).toBe(trained.reduce((a, b) => a + referenceTopK(b.logits, b.labels, 10, 1), 0));
    expect(s.top5 * 48).toBe(trained.reduce((a, b) => a + referenceTopK(b.logits, b.labels, 10, 5), 0));
    expect(s.top1).toBeGreaterThan(0);
    await loader.close();
    model.dispose();
  });

  it("NaN weights: every image is scored wrong, and evaluate refuses to report a score", async () => {
    const cfg = tinyConfig({
      num_classes: 10,
      data: { dataset: "synthetic", synthetic_size: 48, num_workers: 0 },
    });
    const model = new VisionTransformer(dev, vitConfigOf(cfg.model));
    const sd = await model.stateDictHost();
    for (const t of Object.values(sd)) (t.data as Float32Array).fill(Number.NaN);
    model.loadStateDict(sd);
    const loader = await buildLoader(cfg, "test");
    const batches = await allLogits(model, loader);
    let top1 = 0;
    let top5 = 0;
    let nonFinite = 0;
    for (const b of batches) {
      const s = scoreLogits(b.logits, b.labels, 10);
      top1 += s.top1;
      top5 += s.top5;
      nonFinite += s.nonFinite;
      expect(s.loss).toBeNaN();
    }
    expect([top1, top5, nonFinite]).toEqual([0, 0, 48]);
    const err = await evaluate(model, loader).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteLogitsError);
    expect(err.message).toMatch(/logits are NaN or infinite for 48 of 48 images, so no score is reported/);
    await loader.close();
    model.dispose();
  });
});

describe("a diverging run", () => {
  it("never saves non-finite weights (nor as best); the error names a checkpoint that really is good", async () => {
    const cfg = tinyConfig(
      {},
      { max_steps: 40, log_every_n_steps: 5, val_check_interval: 1 },
      { name: "sgd", lr: 1e12, momentum: 0.9 },
    );
    cfg.exp_manager.checkpoint.every_n_steps = 1;
    cfg.exp_manager.checkpoint.keep_last = 100;
    const t = new Trainer(dev, cfg);
    const err = await t.fit().catch((e) => e);
    t.dispose();
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect(err.message).toMatch(/NaN or infinite|training loss became/);
    const named = err.message.match(/last good checkpoint is (\S+\.safetensors)/)?.[1];
    expect(named, err.message).toBeTruthy();
    expect(await finiteWeights(named)).toBe(true);
    // No checkpoint on disk holds a diverged model, best.safetensors included.
    const files = readdirSync(t.ckptDir).filter((f) => f.endsWith(".safetensors"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(await finiteWeights(join(t.ckptDir, f)), f).toBe(true);
  });

  it("says so when no good checkpoint was saved", async () => {
    const cfg = tinyConfig(
      {},
      { max_steps: 40, log_every_n_steps: 5 },
      { name: "sgd", lr: 1e12, momentum: 0.9 },
    );
    const t = new Trainer(dev, cfg);
    const err = await t.fit().catch((e) => e);
    t.dispose();
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect(err.message).toMatch(/The run stopped; no good checkpoint was saved before it\./);
  });
});

describe("resume checks what it loads", () => {
  it("optimizer state whose dtype is not the optimizer's is refused, naming the tensor and both dtypes", async () => {
    const cfg = tinyConfig({}, { max_steps: 2 });
    const a = new Trainer(dev, cfg);
    const { checkpoint } = await a.fit();
    a.dispose();
    const sd = await loadSafetensors(checkpoint!);
    const meta = (await readSafetensorsHeader(checkpoint!)).metadata;
    const key = Object.keys(sd).find((k) => k.startsWith("optim.") && k.endsWith(".exp_avg_sq"))!;
    const f32 = sd[key]!.data as Float32Array;
    // The same bytes under an integer label: uploaded as they are, they would pass for the f32 state.
    sd[key] = {
      dtype: "I32",
      shape: sd[key]!.shape,
      data: new Int32Array(f32.buffer.slice(0)),
    } as HostTensor;
    const bad = join(tmpdir(), `vit-relabel-${process.pid}.safetensors`);
    await saveSafetensors(bad, sd, meta);
    const b = new Trainer(dev, tinyConfig({}, { max_steps: 4 }));
    const err = await b.resume(bad).catch((e) => e);
    b.dispose();
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toContain(
      `optimizer state ${key.slice(6)} in ${bad} is I32, but this optimizer keeps it as f32`,
    );
  });

  it("a checkpoint holding NaN weights is not resumed from", async () => {
    const cfg = tinyConfig({}, { max_steps: 1 });
    const a = new Trainer(dev, cfg);
    const { checkpoint } = await a.fit();
    a.dispose();
    const sd = await loadSafetensors(checkpoint!);
    const meta = (await readSafetensorsHeader(checkpoint!)).metadata;
    (sd["model.head.bias"]!.data as Float32Array)[1] = Number.NaN;
    await saveSafetensors(checkpoint!, sd, meta);
    const b = new Trainer(dev, tinyConfig({}, { max_steps: 2 }));
    await expect(b.resume(checkpoint!)).rejects.toThrow(/holds 1 NaN or infinite weights/);
    b.dispose();
  });
});

describe("what the metrics were measured on", () => {
  /** root/{cat,dog}/{0..3}.png, 8×8 RGB. */
  async function folder(): Promise<string> {
    const root = join(tmpdir(), `vit-evalon-${process.pid}-${Math.random().toString(36).slice(2)}`);
    for (const c of ["cat", "dog"]) {
      mkdirSync(join(root, c), { recursive: true });
      for (let i = 0; i < 4; i++) {
        const px = new Uint8Array(8 * 8 * 3).map((_, j) => (j * (c === "cat" ? 7 : 13) + i * 31) % 256);
        writeFileSync(
          join(root, c, `${i}.png`),
          await encodeImage({ data: px, width: 8, height: 8, channels: 3 }, "png"),
        );
      }
    }
    return root;
  }

  it('without a validation path the run warns and result.json says "train"; with one, "test"', async () => {
    const root = await folder();
    const run = async (data: Record<string, unknown>) => {
      const cfg = tinyConfig(
        { num_channels: 3, micro_batch_size: 4, data: { dataset: "image_folder", num_workers: 0, ...data } },
        { max_steps: 1 },
      );
      const logs: string[] = [];
      const t = new Trainer(dev, cfg, { log: (m) => logs.push(m) });
      const r = await t.fit();
      t.dispose();
      const saved = JSON.parse(readFileSync(join(t.runDir, "result.json"), "utf8"));
      return {
        r,
        saved,
        warned: logs.some((l) =>
          /validation and the final test metrics are measured on the TRAINING data/.test(l),
        ),
      };
    };
    const own = await run({ data_path: root });
    expect(own.r.evalOn).toBe("train");
    expect(own.saved.evalOn).toBe("train");
    expect(own.warned).toBe(true);
    const held = await run({ data_path: root, val_path: root });
    expect(held.saved.evalOn).toBe("test");
    expect(held.warned).toBe(false);
  });
});

describe("model.data.follow_symlinks", () => {
  it("a link out of the image folder is refused with the key that allows it, and followed when set", async () => {
    const root = join(tmpdir(), `vit-links-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const outside = `${root}-outside`;
    const png = await encodeImage(
      { data: new Uint8Array(8 * 8 * 3).fill(7), width: 8, height: 8, channels: 3 },
      "png",
    );
    for (const d of [join(root, "a"), join(root, "b"), outside]) mkdirSync(d, { recursive: true });
    for (const [d, n] of [
      [join(root, "a"), 2],
      [join(root, "b"), 2],
      [outside, 3],
    ] as const)
      for (let i = 0; i < n; i++) writeFileSync(join(d, `${i}.png`), png);
    symlinkSync(outside, join(root, "b", "more"));
    const cfg = (follow?: boolean) =>
      tinyConfig({
        num_channels: 3,
        micro_batch_size: 2,
        data: {
          dataset: "image_folder",
          data_path: root,
          num_workers: 0,
          ...(follow === undefined ? {} : { follow_symlinks: follow }),
        },
      });
    await expect(buildLoader(cfg(), "train")).rejects.toThrow(
      /is a symbolic link to .* outside the image folder.*model.data.follow_symlinks=true/,
    );
    const loader = await buildLoader(cfg(true), "train");
    expect(loader.dataset.length).toBe(7);
    expect(Array.from((loader.dataset as unknown as { labels: Int32Array }).labels)).toEqual([
      0, 0, 1, 1, 1, 1, 1,
    ]);
    await loader.close();
  });
});

describe("a training set smaller than one micro-batch", () => {
  it("is refused at the start with the fix", async () => {
    const t = new Trainer(
      dev,
      tinyConfig({ data: { dataset: "synthetic", synthetic_size: 5, num_workers: 0 } }),
    );
    const err = await t.fit().catch((e) => e);
    t.dispose();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(
      /training set has 5 samples, fewer than model.micro_batch_size=16.*Lower model.micro_batch_size to at most 5/,
    );
  });

  it("a stream of unknown length that yields no batch stops the loop instead of spinning", async () => {
    const png = await encodeImage(
      { data: new Uint8Array(8 * 8 * 3).fill(90), width: 8, height: 8, channels: 3 },
      "png",
    );
    const stream: IterableDataset = {
      kind: "iterable",
      name: "three-sample-stream",
      classes: ["a", "b", "c", "d"],
      channels: 3,
      length: undefined,
      async *stream() {
        for (let i = 0; i < 3; i++) yield { key: `s${i}`, bytes: png, label: i };
      },
    };
    const cfg = tinyConfig({ num_channels: 3 }, { max_steps: 2 });
    const t = new Trainer(dev, cfg);
    const train = new DataLoader(stream, { batchSize: 16, dropLast: true, numWorkers: 0 });
    const val = await buildLoader(cfg, "test");
    t.loaders = async () => ({ train, val });
    const err = await t.fit().catch((e) => e);
    t.dispose();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(
      /training stream three-sample-stream gave no batch of model.micro_batch_size=16/,
    );
  });
});
