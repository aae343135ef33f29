import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { FormatError, LabelRangeError, NotFoundError } from "../src/errors.js";
import { GUNZIP_LIMITS, readMaybeGzip } from "../src/sources/files.js";
import { idxDataset } from "../src/sources/idx.js";
import { tempDir } from "./helpers/tmp.js";
import { idxBytes, writeIdx } from "./helpers/writers.js";

let dir: string;
const N = 5;
const H = 3;
const W = 4;
const pixels = Uint8Array.from({ length: N * H * W }, (_, i) => (i * 7) % 256);
const labels = Uint8Array.from([3, 1, 4, 1, 5]);

beforeAll(async () => {
  dir = await tempDir();
  await writeIdx(join(dir, "img"), [N, H, W], pixels);
  await writeIdx(join(dir, "lab"), [N], labels);
  await writeIdx(join(dir, "img.gz"), [N, H, W], pixels, true);
  await writeIdx(join(dir, "lab.gz"), [N], labels, true);
});

describe("IDX source", () => {
  it.each([
    ["plain", "img", "lab"],
    ["gzip", "img.gz", "lab.gz"],
  ])("reads %s image/label files", async (_, img, lab) => {
    const ds = await idxDataset({ images: join(dir, img), labels: join(dir, lab) });
    expect(ds.length).toBe(N);
    expect(ds.imageSize).toEqual([H, W]);
    expect(ds.channels).toBe(1);
    expect(ds.classes).toHaveLength(10);
    expect(Array.from(ds.labels)).toEqual([3, 1, 4, 1, 5]);
    const s = await ds.get(2);
    expect(s.label).toBe(4);
    expect([s.image.width, s.image.height, s.image.channels]).toEqual([W, H, 1]);
    expect(Array.from(s.image.data)).toEqual(Array.from(pixels.subarray(2 * H * W, 3 * H * W)));
    // Workers share this memory instead of copying it.
    expect(ds.pixels.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it("reads N×H×W×3 files as RGB", async () => {
    const rgb = Uint8Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => i);
    await writeIdx(join(dir, "rgb"), [2, 2, 2, 3], rgb);
    await writeIdx(join(dir, "rgb-lab"), [2], Uint8Array.from([0, 1]));
    const ds = await idxDataset({
      images: join(dir, "rgb"),
      labels: join(dir, "rgb-lab"),
      classes: ["a", "b"],
    });
    expect(ds.channels).toBe(3);
    expect(Array.from((await ds.get(1)).image.data)).toEqual(Array.from(rgb.subarray(12)));
  });

  it("rejects a bad magic number, naming the file", async () => {
    const p = join(dir, "bad-magic");
    await writeFile(p, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    await expect(idxDataset({ images: p, labels: join(dir, "lab") })).rejects.toThrow(FormatError);
    await expect(idxDataset({ images: p, labels: join(dir, "lab") })).rejects.toThrow(p);
  });

  it("rejects a payload that does not match the header", async () => {
    const p = join(dir, "short");
    await writeFile(p, idxBytes([N, H, W], pixels).subarray(0, 20));
    await expect(idxDataset({ images: p, labels: join(dir, "lab") })).rejects.toThrow(/header declares/);
  });

  it("rejects label/image count mismatches", async () => {
    const p = join(dir, "lab3");
    await writeIdx(p, [3], Uint8Array.from([0, 1, 2]));
    await expect(idxDataset({ images: join(dir, "img"), labels: p })).rejects.toThrow(
      /3 labels for 5 images/,
    );
  });

  it("rejects out-of-range labels with the label file and the fix", async () => {
    const p = join(dir, "lab-big");
    await writeIdx(p, [N], Uint8Array.from([0, 1, 12, 3, 4]));
    const err = await idxDataset({ images: join(dir, "img"), labels: p }).catch((e) => e);
    expect(err).toBeInstanceOf(LabelRangeError);
    expect(err.message).toContain(p);
    expect(err.message).toContain("Label 12 at index 2");
    expect(err.message).toContain("numClasses >= 13");
  });

  it("reports missing files as NotFoundError", async () => {
    const p = join(dir, "nope");
    await expect(idxDataset({ images: p, labels: join(dir, "lab") })).rejects.toThrow(NotFoundError);
  });

  it("refuses a gzip bomb with a one-line error naming the file, before inflating it all", async () => {
    // A well-formed IDX file of zeros: 17 MiB inflated, ~17 KiB compressed (about 1000:1, gzip's limit).
    const n = 17 << 20;
    const p = join(dir, "bomb.gz");
    await writeIdx(p, [n / 1024, 32, 32], new Uint8Array(n), true);
    const err = await idxDataset({ images: p, labels: join(dir, "lab") }).then(
      () => null,
      (e) => e,
    ); // null (not the 17 MB data set) if it loads
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain(`Bad data file ${p}: gzip stream inflates to more than`);
    expect(err.message).toContain(`(fix: if the file is genuine, decompress it once (gunzip -k ${p})`);
    expect(err.message).not.toContain("\n");
  });

  it("bounds gunzip output by the ratio cap: refuses past it, reads within it", async () => {
    const small = { maxRatio: 4, minBytes: 0 };
    const zeros = join(dir, "zeros.gz");
    await writeFile(zeros, gzipSync(new Uint8Array(100_000)));
    await expect(readMaybeGzip(zeros, "file", "hint", small)).rejects.toThrow(
      /zeros\.gz: gzip stream inflates to more than \d+ bytes, over 4× its \d+ compressed bytes/,
    );
    // Random bytes do not compress: well within the cap, and read back exactly.
    const data = randomBytes(100_000);
    const noise = join(dir, "noise.gz");
    await writeFile(noise, gzipSync(data));
    expect(Buffer.from(await readMaybeGzip(noise, "file", "hint", small)).equals(data)).toBe(true);
    // Small files may compress arbitrarily well under the default limits.
    expect((await readMaybeGzip(zeros, "file", "hint")).length).toBe(100_000);
    expect(GUNZIP_LIMITS.minBytes).toBeGreaterThan(100_000);
  });
});
