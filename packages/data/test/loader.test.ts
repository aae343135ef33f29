import { describe, expect, it } from "vitest";
import { f32ArrayToBf16 as toBfloat16 } from "@vit/half";
import { ConfigError } from "../src/errors.js";
import { type Batch, DataLoader } from "../src/loader.js";
import { InMemoryDataset } from "../src/sources/memory.js";
import { synthetic } from "../src/sources/synthetic.js";
import {
  autoAugment,
  colorJitter,
  normalize,
  randAugment,
  randomHorizontalFlip,
  randomResizedCrop,
} from "../src/transforms/spec.js";
import { collect } from "./helpers/tmp.js";

const same = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function expectSameBatches(a: Batch[], b: Batch[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => {
    const y = b[i]!;
    expect(x.shape).toEqual(y.shape);
    expect(Array.from(x.indices)).toEqual(Array.from(y.indices));
    expect(Array.from(x.labels)).toEqual(Array.from(y.labels));
    expect(same(x.images, y.images)).toBe(true);
    if (x.targets || y.targets) expect(same(x.targets!, y.targets!)).toBe(true);
  });
}

/** Images whose pixels all equal their index (mod 256) with label index mod 4: easy to trace. */
function traceable(n: number, h = 4, w = 4): InMemoryDataset {
  const pixels = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) pixels.fill(i % 256, i * h * w, (i + 1) * h * w);
  return new InMemoryDataset({
    name: "traceable",
    pixels,
    labels: Array.from({ length: n }, (_, i) => i % 4),
    height: h,
    width: w,
    channels: 1,
    classes: ["a", "b", "c", "d"],
  });
}

const augment = [
  randomResizedCrop(24),
  randomHorizontalFlip(),
  colorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }),
  normalize(),
];

describe("DataLoader basics", () => {
  it("yields NCHW float32 batches with labels and indices; last batch partial unless dropLast", async () => {
    const ds = traceable(10);
    const batches = await collect(new DataLoader(ds, { batchSize: 4, numWorkers: 0 }));
    expect(batches.map((b) => b.shape)).toEqual([
      [4, 1, 4, 4],
      [4, 1, 4, 4],
      [2, 1, 4, 4],
    ]);
    const b = batches[2]!;
    expect(b.images).toBeInstanceOf(Float32Array);
    expect(Array.from(b.indices)).toEqual([8, 9]);
    expect(Array.from(b.labels)).toEqual([0, 1]);
    expect(b.images[16]).toBeCloseTo(9 / 255, 7); // second sample, first pixel
    const dropped = await collect(new DataLoader(ds, { batchSize: 4, numWorkers: 0, dropLast: true }));
    expect(dropped).toHaveLength(2);
    expect(new DataLoader(ds, { batchSize: 4, dropLast: true, numWorkers: 0 }).length).toBe(2);
  });

  it("shuffles per epoch: each epoch visits every sample once in a new order", async () => {
    const loader = new DataLoader(traceable(50), { batchSize: 8, shuffle: true, seed: 3, numWorkers: 0 });
    const e0 = (await collect(loader)).flatMap((b) => Array.from(b.indices));
    const e1 = (await collect(loader)).flatMap((b) => Array.from(b.indices));
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(e1).not.toEqual(e0);
    expect(loader.epoch).toBe(2);
  });

  it("gives bit-identical batches with 0 and 2 workers (augmentation is a function of seed, epoch, index)", async () => {
    const ds = synthetic({ length: 24, height: 40, width: 30, numClasses: 5, seed: 1 });
    const opts = {
      batchSize: 5,
      shuffle: true,
      seed: 11,
      transforms: augment,
      mixup: {},
      labelSmoothing: 0.1,
    };
    const inProc = await collect(new DataLoader(ds, { ...opts, numWorkers: 0 }));
    const pooled = new DataLoader(ds, { ...opts, numWorkers: 2 });
    const viaWorkers = await collect(pooled);
    await pooled.close();
    expectSameBatches(inProc, viaWorkers);
    expect(inProc[0]!.shape).toEqual([5, 3, 24, 24]);
    expect(inProc[0]!.targets).toHaveLength(5 * 5);
    expect(inProc[0]!.mix?.mode).toMatch(/mixup|cutmix/);
  });

  it("changes augmentations across epochs and seeds", async () => {
    const ds = synthetic({ length: 4, height: 40, width: 30 });
    const l = new DataLoader(ds, { batchSize: 4, numWorkers: 0, transforms: augment });
    const [a] = await collect(l);
    const [b] = await collect(l);
    const [c] = await collect(
      new DataLoader(ds, { batchSize: 4, numWorkers: 0, transforms: augment, seed: 1 }),
    );
    expect(same(a!.images, b!.images)).toBe(false);
    expect(same(a!.images, c!.images)).toBe(false);
  });

  it("runs AutoAugment and RandAugment in workers", async () => {
    const ds = synthetic({ length: 6, height: 32, width: 32 });
    const l = new DataLoader(ds, {
      batchSize: 3,
      numWorkers: 2,
      transforms: [autoAugment(), randAugment(), normalize()],
    });
    const batches = await collect(l);
    await l.close();
    expect(batches.map((b) => b.shape)).toEqual([
      [3, 3, 32, 32],
      [3, 3, 32, 32],
    ]);
  });

  it("expands grayscale to 3 channels or keeps 1, on request", async () => {
    const ds = traceable(4);
    const [rgb] = await collect(new DataLoader(ds, { batchSize: 4, numWorkers: 0, channels: 3 }));
    expect(rgb!.shape).toEqual([4, 3, 4, 4]);
    const plane = 16;
    expect(rgb!.images[3 * 3 * plane + 2 * plane]).toBeCloseTo(3 / 255, 7); // sample 3, channel 2
    const [gray] = await collect(new DataLoader(ds, { batchSize: 4, numWorkers: 0 }));
    expect(gray!.shape).toEqual([4, 1, 4, 4]);
  });

  it("converts RGB to one luma channel with channels: 1", async () => {
    const rgb = new InMemoryDataset({
      name: "rgb",
      pixels: Uint8Array.from([255, 0, 0, 0, 255, 0]),
      labels: [0, 1],
      height: 1,
      width: 1,
      channels: 3,
      classes: ["r", "g"],
    });
    const [b] = await collect(new DataLoader(rgb, { batchSize: 2, numWorkers: 0, channels: 1 }));
    expect(b!.shape).toEqual([2, 1, 1, 1]);
    // ITU-R 601 luma: 0.299·255 → 76, 0.587·255 → 150.
    expect(Array.from(b!.images, (v) => Math.round(v * 255))).toEqual([76, 150]);
  });

  it("emits bfloat16 as round-to-nearest-even of the float32 batch", async () => {
    const ds = synthetic({ length: 6, height: 8, width: 8 });
    const [f32] = await collect(
      new DataLoader(ds, { batchSize: 6, numWorkers: 0, transforms: [normalize()] }),
    );
    const [bf] = await collect(
      new DataLoader(ds, { batchSize: 6, numWorkers: 0, transforms: [normalize()], dtype: "bfloat16" }),
    );
    expect(bf!.images).toBeInstanceOf(Uint16Array);
    expect(same(bf!.images, toBfloat16(f32!.images as Float32Array))).toBe(true);
  });

  it("label smoothing alone yields soft targets without mixing images", async () => {
    const ds = traceable(4);
    const [b] = await collect(new DataLoader(ds, { batchSize: 4, numWorkers: 0, labelSmoothing: 0.2 }));
    expect(b!.mix).toBeUndefined();
    expect(b!.targets![0]).toBeCloseTo(0.85, 6); // 1 − 0.2 + 0.2/4
    expect(b!.targets![1]).toBeCloseTo(0.05, 6);
  });

  it("sends one worker task per batch for in-memory sets (no per-sample messages)", async () => {
    const l = new DataLoader(traceable(100), { batchSize: 10, numWorkers: 2 });
    const batches = await collect(l);
    await l.close();
    expect(batches).toHaveLength(10);
    expect(l.tasksPosted).toBe(10);
  });

  it("shards an epoch across ranks with the distributed option", async () => {
    const ds = traceable(22);
    const seen = await Promise.all(
      [0, 1, 2].map(async (rank) => {
        const l = new DataLoader(ds, {
          batchSize: 4,
          numWorkers: 0,
          shuffle: true,
          distributed: { rank, worldSize: 3 },
        });
        expect(l.length).toBe(2); // ceil(22 / 3) = 8 samples → 2 batches
        return (await collect(l)).flatMap((b) => Array.from(b.indices));
      }),
    );
    expect(new Set(seen.flat()).size).toBe(22);
    expect(seen.flat()).toHaveLength(24); // 2 padding samples
  });

  it("rejects bad options with ConfigError", () => {
    const ds = traceable(4);
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(ConfigError);
    expect(() => new DataLoader(ds, { batchSize: 2, numWorkers: -1 })).toThrow(/numWorkers/);
    expect(() => new DataLoader(ds, { batchSize: 2, labelSmoothing: 1 })).toThrow(/labelSmoothing/);
    expect(
      () => new DataLoader(ds, { batchSize: 2, transforms: [normalize(), randomHorizontalFlip()] }),
    ).toThrow(/follows normalize/);
    // ImageNet statistics on a grayscale set: caught up front, with the fix.
    expect(() => new DataLoader(ds, { batchSize: 2, transforms: [normalize()] })).toThrow(/channels: 3/);
    expect(new DataLoader(ds, { batchSize: 2, channels: 3, transforms: [normalize()] }).batchSize).toBe(2);
  });

  it("refuses to iterate the same loader twice at once", async () => {
    const l = new DataLoader(traceable(8), { batchSize: 2, numWorkers: 0 });
    const a = l[Symbol.asyncIterator]();
    await a.next();
    await expect(l[Symbol.asyncIterator]().next()).rejects.toThrow(/already being iterated/);
    await a.return?.();
  });
});

describe("DataLoader resume", () => {
  const ds = synthetic({ length: 45, height: 30, width: 30, numClasses: 3 });
  const opts = {
    batchSize: 4,
    shuffle: true,
    seed: 7,
    transforms: augment,
    mixup: { cutmixAlpha: 1 },
    labelSmoothing: 0.1,
  };

  it.each([0, 2])(
    "state saved mid-epoch and restored yields the identical remaining batches (numWorkers %i)",
    async (numWorkers) => {
      const reference = new DataLoader(ds, { ...opts, numWorkers: 0 });
      await collect(reference); // epoch 0
      const epoch1 = await collect(reference);

      const run = new DataLoader(ds, { ...opts, numWorkers });
      await collect(run); // epoch 0
      const it = run[Symbol.asyncIterator]();
      const head: Batch[] = [];
      for (let i = 0; i < 5; i++) head.push((await it.next()).value as Batch);
      const saved = JSON.parse(JSON.stringify(run.state()));
      await it.return?.(); // the "crash"
      await run.close();
      expect(saved).toMatchObject({ epoch: 1, position: 5, seed: 7, batchSize: 4, samplesPerEpoch: 45 });
      expectSameBatches(head, epoch1.slice(0, 5));

      const resumed = new DataLoader(ds, { ...opts, seed: 0, numWorkers });
      resumed.loadState(saved);
      const rest = await collect(resumed);
      await resumed.close();
      expectSameBatches(rest, epoch1.slice(5));
      expect(resumed.state()).toMatchObject({ epoch: 2, position: 0 });
    },
  );

  it("a state taken after the last batch of an epoch points at the next epoch", async () => {
    const l = new DataLoader(ds, { ...opts, numWorkers: 0 });
    let n = 0;
    for await (const _ of l) if (++n === l.length) break;
    expect(l.state()).toMatchObject({ epoch: 1, position: 0 });
  });

  it("refuses a state from a different batch size or data set", () => {
    const l = new DataLoader(ds, { ...opts, numWorkers: 0 });
    const s = l.state();
    expect(() => new DataLoader(ds, { ...opts, batchSize: 5, numWorkers: 0 }).loadState(s)).toThrow(
      /batchSize 4/,
    );
    const other = synthetic({ length: 44, height: 30, width: 30, numClasses: 3 });
    expect(() => new DataLoader(other, { ...opts, numWorkers: 0 }).loadState(s)).toThrow(
      /45 samples per epoch/,
    );
  });
});
