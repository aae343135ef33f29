import { readFile, stat, truncate } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  FASHION_MNIST_CLASSES,
  type FashionMnistDataset,
  fashionMnist,
  fashionMnistCachePath,
} from "../src/sources/fashion-mnist.js";
import { tempDir } from "./helpers/tmp.js";

let cache: string;
let train: FashionMnistDataset;
let test: FashionMnistDataset;

beforeAll(async () => {
  cache = await tempDir();
  train = await fashionMnist({ split: "train", cacheDir: cache });
  test = await fashionMnist({ split: "test", cacheDir: cache });
});

function classCounts(labels: Int32Array): number[] {
  const c = new Array(10).fill(0);
  for (const l of labels) c[l]++;
  return c;
}

describe("bundled Fashion-MNIST", () => {
  it("has 60,000 train and 10,000 test 28x28 grayscale images, 70,000 in total", () => {
    expect(train.length).toBe(60_000);
    expect(test.length).toBe(10_000);
    expect(train.length + test.length).toBe(70_000);
    expect(train.imageSize).toEqual([28, 28]);
    expect(train.channels).toBe(1);
    expect(train.pixels.length).toBe(60_000 * 784);
    expect(train.classes).toEqual(FASHION_MNIST_CLASSES);
    expect(train.classes[9]).toBe("Ankle boot");
  });

  it("is stratified: 6,000 train and 1,000 test images per class", () => {
    expect(classCounts(train.labels)).toEqual(new Array(10).fill(6000));
    expect(classCounts(test.labels)).toEqual(new Array(10).fill(1000));
  });

  it("splits disjointly, covers every valid entry, and skips class 0's two empty entries", () => {
    const all = new Set<number>([...train.origins, ...test.origins]);
    expect(all.size).toBe(70_000);
    for (let c = 0; c < 10; c++) {
      let n = 0;
      for (const o of all) if (Math.floor(o / 10000) === c) n++;
      expect(n).toBe(7000);
    }
    expect(all.has(1000)).toBe(false); // class 0, entry 1000: "[]"
    expect(all.has(7001)).toBe(false); // class 0, entry 7001: "[]"
    for (let i = 0; i < train.length; i += 997)
      expect(Math.floor(train.origins[i]! / 10000)).toBe(train.labels[i]);
  });

  it("stores the package's pixels unchanged", async () => {
    const pkg = dirname(createRequire(import.meta.url).resolve("fashion-mnist/package.json"));
    const json = JSON.parse(await readFile(join(pkg, "src", "clothes", "3.json"), "utf8")) as {
      data: number[][];
    };
    let checked = 0;
    for (const [ds, idx] of [
      [train, 123],
      [test, 77],
    ] as const) {
      for (let i = idx; i < ds.length && checked < 6; i += 1000) {
        const o = ds.origins[i]!;
        if (Math.floor(o / 10000) !== 3) continue;
        const img = (await ds.get(i)).image;
        expect(Array.from(img.data)).toEqual(json.data[o % 10000]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("has the documented mean 0.2860 and std 0.3530 on the training split", () => {
    let s = 0;
    let s2 = 0;
    const p = train.pixels;
    for (let i = 0; i < p.length; i++) {
      const v = p[i]! / 255;
      s += v;
      s2 += v * v;
    }
    const mean = s / p.length;
    expect(mean).toBeCloseTo(0.286, 2);
    expect(Math.sqrt(s2 / p.length - mean * mean)).toBeCloseTo(0.353, 2);
  });

  it("reloads identically from the cache and rebuilds a damaged cache file", async () => {
    const path = fashionMnistCachePath(cache);
    const size = (await stat(path)).size;
    const again = await fashionMnist({ split: "test", cacheDir: cache });
    // Buffer.equals: a deep toEqual over 7.8 MB takes half a minute.
    expect(Buffer.from(again.pixels).equals(Buffer.from(test.pixels))).toBe(true);
    expect(Array.from(again.labels)).toEqual(Array.from(test.labels));
    await truncate(path, 1000);
    const rebuilt = await fashionMnist({ split: "test", cacheDir: cache });
    expect((await stat(path)).size).toBe(size);
    expect(Array.from(rebuilt.origins)).toEqual(Array.from(test.origins));
  });

  it("rejects unknown splits", async () => {
    await expect(fashionMnist({ split: "val" as "train", cacheDir: cache })).rejects.toThrow(
      /'train' or 'test'/,
    );
  });
});
