import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { sampleRng } from "../src/batch.js";
import { decodeImage, decodeImageBox, encodedImageSize } from "../src/decode.js";
import { DecodeError } from "../src/errors.js";
import { imageHeaderSize } from "../src/header.js";
import { toChannels } from "../src/image.js";
import { DataLoader } from "../src/loader.js";
import { Rng } from "../src/rng.js";
import { imageFolder } from "../src/sources/image-folder.js";
import { compilePipeline, tensorLuts, writeChw } from "../src/transforms/pipeline.js";
import { crop } from "../src/transforms/resample.js";
import { setSimdEnabled } from "../src/transforms/simd.js";
import {
  type TransformSpec,
  colorJitter,
  normalize,
  randomHorizontalFlip,
  randomResizedCrop,
} from "../src/transforms/spec.js";
import { raw } from "./helpers/pattern.js";
import { collect, tempDir } from "./helpers/tmp.js";

/** One file per format the folder source reads, with odd sizes so that crops straddle JPEG blocks. */
const FILES: [string, (w: number, h: number, seed: number) => Promise<Buffer>][] = [
  ["a.jpg", (w, h, s) => raw(w, h, s).jpeg({ quality: 90 }).toBuffer()],
  [
    "b.jpg",
    (w, h, s) => raw(w, h, s).jpeg({ quality: 80, progressive: true, chromaSubsampling: "4:4:4" }).toBuffer(),
  ],
  ["c.jpeg", (w, h, s) => raw(w, h, s).toColourspace("b-w").jpeg().toBuffer()],
  ["d.jpg", (w, h, s) => raw(w, h, s).toColourspace("cmyk").jpeg().toBuffer()],
  ["e.png", (w, h, s) => raw(w, h, s).png().toBuffer()],
  ["f.png", (w, h, s) => raw(w, h, s).ensureAlpha(0.5).png().toBuffer()],
  ["g.webp", (w, h, s) => raw(w, h, s).webp({ quality: 80 }).toBuffer()],
  ["h.webp", (w, h, s) => raw(w, h, s).ensureAlpha(0.5).webp({ lossless: true }).toBuffer()],
];

let root: string;
const sizes: [number, number][] = [
  [97, 61],
  [64, 130],
  [41, 43],
];

beforeAll(async () => {
  root = await tempDir();
  for (const cls of ["x", "y"]) await mkdir(join(root, cls));
  let seed = 0;
  for (const [name, make] of FILES) {
    for (const [k, [w, h]] of sizes.entries()) {
      await writeFile(join(root, k % 2 ? "y" : "x", `${k}${name}`), await make(w, h, seed++));
    }
  }
});

afterEach(() => setSimdEnabled(true));

describe("reading the size from the header", () => {
  it("agrees with the decoder for every format the folder source reads", async () => {
    for (const [name, make] of FILES) {
      const bytes = await make(53, 29, 1);
      expect(imageHeaderSize(bytes), name).toEqual({ width: 53, height: 29 });
      expect(await encodedImageSize(bytes, name)).toEqual({ width: 53, height: 29 });
    }
  });

  it("returns null for truncated or unknown data, and the decoder then reports the file", async () => {
    const jpg = await raw(20, 10, 0).jpeg().toBuffer();
    expect(imageHeaderSize(jpg.subarray(0, 20))).toBeNull();
    expect(imageHeaderSize(Buffer.from("not an image at all, not even close"))).toBeNull();
    const gif = await raw(20, 10, 0).gif().toBuffer();
    expect(imageHeaderSize(gif)).toBeNull(); // left to sharp
    expect(await encodedImageSize(gif, "g.gif")).toEqual({ width: 20, height: 10 });
    await expect(encodedImageSize(Buffer.from("garbage"), "bad.jpg")).rejects.toBeInstanceOf(DecodeError);
  });
});

describe("decoding only a box", () => {
  it("gives exactly the pixels of the full decode inside the box", async () => {
    const r = new Rng(3);
    for (const [name, make] of FILES) {
      const bytes = await make(97, 61, 2);
      const full = await decodeImage(bytes, name);
      for (let t = 0; t < 4; t++) {
        const width = 1 + r.int(97);
        const height = 1 + r.int(61);
        const box = { left: r.int(97 - width + 1), top: r.int(61 - height + 1), width, height };
        const part = await decodeImageBox(bytes, name, box);
        expect([part.width, part.height, part.channels]).toEqual([width, height, 3]);
        const want = crop(full, box.top, box.left, height, width);
        expect(Buffer.from(part.data).equals(Buffer.from(want.data)), `${name} ${JSON.stringify(box)}`).toBe(
          true,
        );
      }
    }
  });

  it("reports a box outside the image as a DecodeError naming the file", async () => {
    const bytes = await raw(10, 10, 0).png().toBuffer();
    const err = await decodeImageBox(bytes, "small.png", { left: 5, top: 0, width: 10, height: 5 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(DecodeError);
    expect(err.message).toContain("small.png");
  });
});

/**
 * What the loader must produce: every sample decoded whole and run through the compiled steps one by one
 * (RandomResizedCrop on the full image, a separate flip, a separate tensor write) — the path without any of
 * the crop-on-decode, SIMD or fused-write shortcuts.
 */
async function reference(
  paths: readonly string[],
  indices: Int32Array,
  transforms: TransformSpec[],
  seed: number,
  channels: 1 | 3,
): Promise<Float32Array> {
  const pipe = await compilePipeline(transforms);
  const parts: Float32Array[] = [];
  for (const index of indices) {
    let img = toChannels(await decodeImage(paths[index]!, paths[index]!), channels);
    const ctx = { rng: sampleRng(seed, 0, index), index, epoch: 0 };
    for (const step of pipe.steps) img = await step.run(img, ctx);
    const out = new Float32Array(img.width * img.height * img.channels);
    writeChw(img, tensorLuts(img.channels, pipe.normalize), out, 0);
    parts.push(out);
  }
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}

describe("the loader's crop-on-decode path", () => {
  const lists: [string, TransformSpec[]][] = [
    ["crop, flip, normalize", [randomResizedCrop(32), randomHorizontalFlip(), normalize()]],
    ["crop, flip (no normalize)", [randomResizedCrop([24, 40]), randomHorizontalFlip(0.7)]],
    [
      "crop, jitter, flip, normalize",
      [
        randomResizedCrop(28, { scale: [0.3, 1] }),
        colorJitter({ brightness: 0.4 }),
        randomHorizontalFlip(),
        normalize(),
      ],
    ],
    ["crop only", [randomResizedCrop(20)]],
  ];

  it.each(lists)("equals decoding whole images and running every step: %s", async (_, transforms) => {
    const ds = await imageFolder(root);
    for (const numWorkers of [0, 2]) {
      const loader = new DataLoader(ds, { batchSize: 7, shuffle: true, seed: 11, numWorkers, transforms });
      const batches = await collect(loader);
      await loader.close();
      expect(batches.reduce((n, b) => n + b.shape[0], 0)).toBe(ds.length);
      for (const b of batches) {
        const want = await reference(ds.paths, b.indices, transforms, 11, 3);
        expect(Buffer.from((b.images as Float32Array).buffer).equals(Buffer.from(want.buffer))).toBe(true);
      }
    }
  });

  it("equals the reference without SIMD and with one output channel", async () => {
    const ds = await imageFolder(root);
    const transforms = [randomResizedCrop(30), randomHorizontalFlip(), normalize([0.5], [0.25])];
    setSimdEnabled(false);
    for (const channels of [3, 1] as const) {
      const loader = new DataLoader(ds, { batchSize: 24, seed: 4, numWorkers: 0, channels, transforms });
      const [b] = await collect(loader);
      await loader.close();
      const want = await reference(ds.paths, b!.indices, transforms, 4, channels);
      expect(Buffer.from((b!.images as Float32Array).buffer).equals(Buffer.from(want.buffer))).toBe(true);
    }
  });

  it.each([0, 2])(
    "unreadable files still fail with DecodeError, or are skipped (numWorkers %i)",
    async (numWorkers) => {
      const dir = await tempDir();
      await mkdir(join(dir, "c"));
      await writeFile(join(dir, "c", "ok.jpg"), await raw(40, 30, 1).jpeg().toBuffer());
      await writeFile(
        join(dir, "c", "truncated.jpg"),
        (await raw(40, 30, 2).jpeg().toBuffer()).subarray(0, 300),
      );
      await writeFile(join(dir, "c", "text.jpg"), "definitely not a jpeg");
      const ds = await imageFolder(dir);
      const transforms = [randomResizedCrop(16), normalize()];
      const strict = new DataLoader(ds, { batchSize: 4, numWorkers, transforms });
      const err = await collect(strict).catch((e) => e);
      await strict.close();
      expect(err).toBeInstanceOf(DecodeError);
      const lenient = new DataLoader(ds, { batchSize: 4, numWorkers, transforms, onBadImage: "skip" });
      const batches = await collect(lenient);
      await lenient.close();
      expect(batches.map((b) => b.shape)).toEqual([[1, 3, 16, 16]]);
      expect(lenient.skipped).toBe(2);
    },
  );
});
