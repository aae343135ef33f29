/**
 * classSubset (NeMo's classes_fraction / data_per_class_fraction): which samples are kept, and that a
 * loader reads exactly those samples, in the calling thread and in worker threads.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import { DataLoader } from "../src/loader.js";
import { type ClassSubsetDataset, classSubset } from "../src/sources/class-subset.js";
import { imageFolder } from "../src/sources/image-folder.js";
import { InMemoryDataset } from "../src/sources/memory.js";
import { writeSyntheticImageFolder } from "../src/sources/synthetic-folder.js";
import { synthetic } from "../src/sources/synthetic.js";
import { collect, tempDir } from "./helpers/tmp.js";

// Sample i has pixels all equal to i and the label below.
const LABELS = [0, 1, 2, 0, 1, 2, 0, 1, 3, 3, 0, 2, 1, 0];
function traced(): InMemoryDataset {
  const n = LABELS.length;
  const pixels = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) pixels.fill(i, i * 4, (i + 1) * 4);
  return new InMemoryDataset({
    name: "traced",
    pixels,
    labels: LABELS,
    height: 2,
    width: 2,
    channels: 1,
    classes: ["a", "b", "c", "d"],
  });
}

describe("classSubset", () => {
  it("keeps the first ⌊C·classes_fraction⌋ classes and the first ⌊n·fraction⌋ samples of each, in order", () => {
    // classes 0.5 of 4 → a, b; per class 0.5: a = [0,3,6,10,13] → 2 → [0,3]; b = [1,4,7,12] → 2 → [1,4].
    const s = classSubset(traced(), { classesFraction: 0.5, perClassFraction: 0.5 }) as ClassSubsetDataset;
    expect(Array.from(s.indices)).toEqual([0, 1, 3, 4]);
    expect(s.classes).toEqual(["a", "b"]);
    expect(Array.from({ length: s.length }, (_, i) => s.label(i))).toEqual([0, 1, 0, 1]);
    // classes only: every sample of a, b, c (⌊4·0.8⌋ = 3 classes).
    const c = classSubset(traced(), { classesFraction: 0.8 }) as ClassSubsetDataset;
    expect(Array.from(c.indices)).toEqual(LABELS.flatMap((l, i) => (l < 3 ? [i] : [])));
    // per class only: ⌊5·0.3⌋ = 1 of a, ⌊4·0.3⌋ = 1 of b, ⌊3·0.3⌋ = 0 of c, ⌊2·0.3⌋ = 0 of d.
    expect(
      Array.from((classSubset(traced(), { perClassFraction: 0.3 }) as ClassSubsetDataset).indices),
    ).toEqual([0, 1]);
    // A subset of a subset is one subset of the base set.
    const twice = classSubset(s, { perClassFraction: 0.5 }) as ClassSubsetDataset;
    expect(twice.base).toBe(s.base);
    expect(Array.from(twice.indices)).toEqual([0, 1]);
    // Both fractions 1: the data set itself.
    const ds = traced();
    expect(classSubset(ds, {})).toBe(ds);
  });

  it("refuses fractions outside (0, 1] and subsets that keep nothing", () => {
    expect(() => classSubset(traced(), { classesFraction: 0 })).toThrow(ConfigError);
    expect(() => classSubset(traced(), { perClassFraction: 1.5 })).toThrow(
      /data_per_class_fraction 1.5 is not in \(0, 1\]/,
    );
    expect(() => classSubset(traced(), { classesFraction: 0.2 })).toThrow(
      /keeps none.*classes_fraction ≥ 0.250/,
    );
    expect(() => classSubset(traced(), { classesFraction: 0.25, perClassFraction: 0.1 })).toThrow(
      /keeps no sample/,
    );
  });

  it.each([0, 2])(
    "a loader (%i workers) reads exactly the kept samples of in-memory and synthetic sets",
    async (numWorkers) => {
      const mem = classSubset(traced(), { classesFraction: 0.5, perClassFraction: 0.5 });
      const batches = await collect(new DataLoader(mem, { batchSize: 2, numWorkers }));
      const firstPixels = batches.flatMap((b) =>
        Array.from(b.images as Float32Array).filter((_, k) => k % 4 === 0),
      );
      expect(firstPixels.map((v) => Math.round(v * 255))).toEqual([0, 1, 3, 4]);
      expect(batches.flatMap((b) => Array.from(b.labels))).toEqual([0, 1, 0, 1]);

      const base = synthetic({ length: 40, height: 3, width: 3, channels: 3, numClasses: 5, seed: 4 });
      const sub = classSubset(base, { classesFraction: 0.4, perClassFraction: 0.5 }) as ClassSubsetDataset;
      const got = await collect(new DataLoader(sub, { batchSize: 4, numWorkers }));
      const want = await Promise.all(Array.from(sub.indices, (i) => base.get(i)));
      expect(got.flatMap((b) => Array.from(b.labels))).toEqual(want.map((s) => s.label));
      expect(want.every((s) => s.label < 2)).toBe(true);
      const pixels = got.flatMap((b) => Array.from(b.images as Float32Array));
      // NCHW floats in [0, 1] from HWC bytes: compare per sample.
      want.forEach((s, k) => {
        for (let c = 0; c < 3; c++)
          for (let p = 0; p < 9; p++)
            expect(pixels[k * 27 + c * 9 + p]).toBeCloseTo(s.image.data[p * 3 + c]! / 255, 6);
      });
    },
  );

  it("image folders: the first files of each class in sorted order; paths travel with the batch", async () => {
    const root = join(await tempDir(), "folder");
    await writeSyntheticImageFolder(root, { images: 12, classes: 3, minSize: 4, maxSize: 4, format: "png" });
    const ds = await imageFolder(root);
    const sub = classSubset(ds, { classesFraction: 0.7, perClassFraction: 0.5 });
    // 2 classes (class000, class001), 4 images each → the first 2 of each.
    const paths = Array.from({ length: sub.length }, (_, i) => sub.samplePath(i).slice(root.length + 1));
    expect(paths).toEqual([
      "class000/img000000.png",
      "class000/img000003.png",
      "class001/img000001.png",
      "class001/img000004.png",
    ]);
    const batches = await collect(new DataLoader(sub, { batchSize: 4, numWorkers: 0 }));
    expect(Array.from(batches[0]!.labels)).toEqual([0, 0, 1, 1]);
  });
});
