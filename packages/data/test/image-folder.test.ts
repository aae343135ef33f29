import { mkdir, realpath, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  DecodeError,
  EmptyDatasetError,
  NotFoundError,
  ShapeMismatchError,
} from "../src/errors.js";
import { DataLoader } from "../src/loader.js";
import { imageFolder } from "../src/sources/image-folder.js";
import { resize } from "../src/transforms/spec.js";
import { collect, tempDir } from "./helpers/tmp.js";

let root: string;
const solid = (w: number, h: number, c: number[]) =>
  sharp(Buffer.from(Array.from({ length: w * h }, () => c).flat()), {
    raw: { width: w, height: h, channels: c.length as 3 | 4 },
  });

/** 3x2 RGB test pattern with distinct values per pixel, stored losslessly. */
const pattern = Buffer.from(Array.from({ length: 18 }, (_, i) => i * 13));

beforeAll(async () => {
  root = await tempDir();
  for (const c of ["b_cls", "a_cls", "C_upper"]) await mkdir(join(root, c));
  await mkdir(join(root, "a_cls", "nested"));
  await sharp(pattern, { raw: { width: 3, height: 2, channels: 3 } })
    .png()
    .toFile(join(root, "a_cls", "p1.png"));
  await solid(8, 6, [200, 100, 50])
    .jpeg({ quality: 95 })
    .toFile(join(root, "a_cls", "j2.JPG"));
  await solid(5, 5, [1, 2, 3])
    .webp({ lossless: true })
    .toFile(join(root, "a_cls", "nested", "w3.webp"));
  await writeFile(join(root, "a_cls", "notes.txt"), "not an image");
  await sharp(Buffer.from([0, 80, 160, 240]), { raw: { width: 2, height: 2, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toFile(join(root, "b_cls", "gray.png"));
  await solid(2, 2, [10, 20, 30, 0])
    .png()
    .toFile(join(root, "b_cls", "rgba.png"));
  await solid(16, 16, [90, 90, 90])
    .toColourspace("cmyk")
    .jpeg()
    .toFile(join(root, "C_upper", "cmyk.jpeg"));
});

describe("ImageFolder source", () => {
  it("sorts classes by code point like torchvision and walks nested folders", async () => {
    const ds = await imageFolder(root);
    expect(ds.classes).toEqual(["C_upper", "a_cls", "b_cls"]);
    expect(ds.paths.map((p) => p.slice(root.length + 1))).toEqual([
      "C_upper/cmyk.jpeg",
      "a_cls/j2.JPG",
      "a_cls/nested/w3.webp",
      "a_cls/p1.png",
      "b_cls/gray.png",
      "b_cls/rgba.png",
    ]);
    expect(Array.from(ds.labels)).toEqual([0, 1, 1, 1, 2, 2]);
  });

  it("decodes lossless PNG/WebP exactly and JPEG closely, always as RGB", async () => {
    const ds = await imageFolder(root);
    const png = (await ds.get(3)).image;
    expect([png.width, png.height, png.channels]).toEqual([3, 2, 3]);
    expect(Buffer.from(png.data)).toEqual(pattern);
    const webp = (await ds.get(2)).image;
    expect(Array.from(webp.data.subarray(0, 6))).toEqual([1, 2, 3, 1, 2, 3]);
    const jpg = (await ds.get(1)).image;
    expect(
      Math.abs(jpg.data[0]! - 200) + Math.abs(jpg.data[1]! - 100) + Math.abs(jpg.data[2]! - 50),
    ).toBeLessThan(12);
  });

  it("expands grayscale, drops alpha and converts CMYK to 3-channel RGB", async () => {
    const ds = await imageFolder(root);
    const g = (await ds.get(4)).image;
    expect(g.channels).toBe(3);
    expect(Array.from(g.data)).toEqual([0, 0, 0, 80, 80, 80, 160, 160, 160, 240, 240, 240]);
    const a = (await ds.get(5)).image;
    expect(Array.from(a.data.subarray(0, 3))).toEqual([10, 20, 30]);
    const cmyk = (await ds.get(0)).image;
    expect(cmyk.channels).toBe(3);
    expect(cmyk.data.length).toBe(16 * 16 * 3);
    for (const v of cmyk.data.subarray(0, 3)) expect(Math.abs(v - 90)).toBeLessThan(25);
  });

  it("fails on a missing root with the path and what the layout should be", async () => {
    const missing = join(root, "does-not-exist");
    const err = await imageFolder(missing).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain(missing);
    expect(err.message).toContain("one sub-folder per class");
  });

  it("fails on an empty class folder, naming it", async () => {
    const r = await tempDir();
    await mkdir(join(r, "full"));
    await mkdir(join(r, "empty"));
    await solid(2, 2, [1, 1, 1])
      .png()
      .toFile(join(r, "full", "x.png"));
    const err = await imageFolder(r).catch((e) => e);
    expect(err).toBeInstanceOf(EmptyDatasetError);
    expect(err.message).toContain(join(r, "empty"));
    expect(err.message).toContain("(fix: ");
  });

  it("fails when the root has no class folders", async () => {
    const r = await tempDir();
    await expect(imageFolder(r)).rejects.toThrow(/No class folders/);
  });
});

describe("ImageFolder and symbolic links", () => {
  /** root/{a,b}/img{0..7}.png: 16 images, 8 per class. */
  async function twoClasses(): Promise<string> {
    const r = await tempDir();
    for (const c of ["a", "b"]) {
      await mkdir(join(r, c));
      for (let i = 0; i < 8; i++)
        await solid(2, 2, [i, 0, 0])
          .png()
          .toFile(join(r, c, `img${i}.png`));
    }
    return r;
  }
  const expectEachOnce = (ds: { paths: readonly string[]; labels: Int32Array }, r: string) => {
    expect(ds.paths.map((p) => p.slice(r.length + 1))).toEqual([
      ...Array.from({ length: 8 }, (_, i) => `a/img${i}.png`),
      ...Array.from({ length: 8 }, (_, i) => `b/img${i}.png`),
    ]);
    expect(Array.from(ds.labels)).toEqual([...Array(8).fill(0), ...Array(8).fill(1)]);
  };

  it("a link loop or a link into another class adds nothing: 16 files give 16 samples, each with its own label", async () => {
    const r = await twoClasses();
    await symlink(".", join(r, "a", "loop")); // a/loop → a
    await symlink("..", join(r, "b", "up")); // b/up → the root, holding both classes
    await symlink("../a", join(r, "b", "other")); // images of class a would be labelled b
    await symlink("../a/img3.png", join(r, "b", "z-stray.png"));
    expectEachOnce(await imageFolder(r), r);
  });

  it("a link out of the data folder is refused with the option that allows it; followLinks follows it", async () => {
    const r = await twoClasses();
    const outside = await tempDir();
    for (let i = 0; i < 3; i++)
      await solid(2, 2, [0, i, 0])
        .png()
        .toFile(join(outside, `ext${i}.png`));
    await symlink(r, join(outside, "back")); // and a way back in, which must not duplicate anything
    await symlink(outside, join(r, "a", "extra"));
    const err = await imageFolder(r).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(
      `${join(r, "a", "extra")} is a symbolic link to ${await realpath(outside)}`,
    );
    expect(err.message).toContain("follow_symlinks=true");
    const ds = await imageFolder(r, { followLinks: true });
    expect(ds.paths.map((p) => p.slice(r.length + 1))).toEqual([
      "a/extra/ext0.png",
      "a/extra/ext1.png",
      "a/extra/ext2.png",
      ...Array.from({ length: 8 }, (_, i) => `a/img${i}.png`),
      ...Array.from({ length: 8 }, (_, i) => `b/img${i}.png`),
    ]);
    expect(Array.from(ds.labels)).toEqual([...Array(11).fill(0), ...Array(8).fill(1)]);
  });

  it("two class names for one folder are refused", async () => {
    const r = await twoClasses();
    await symlink("a", join(r, "c"));
    await expect(imageFolder(r)).rejects.toThrow(/class folders a and c .* are the same folder/);
  });
});

describe("ImageFolder through the DataLoader: bad input", () => {
  let bad: string;
  beforeAll(async () => {
    bad = await tempDir();
    await mkdir(join(bad, "cat"));
    await mkdir(join(bad, "dog"));
    for (let i = 0; i < 3; i++)
      await solid(10, 8, [i * 50, 0, 0])
        .png()
        .toFile(join(bad, "cat", `ok${i}.png`));
    await solid(12, 9, [0, 0, 200])
      .png()
      .toFile(join(bad, "dog", "big.png"));
    await writeFile(join(bad, "dog", "corrupt.jpg"), Buffer.from("definitely not a jpeg"));
  });

  it.each([0, 2])("a corrupt image fails the epoch with its path (numWorkers %i)", async (numWorkers) => {
    const ds = await imageFolder(bad);
    const loader = new DataLoader(ds, { batchSize: 8, numWorkers, transforms: [resize([8, 8])] });
    const err = await collect(loader).catch((e) => e);
    await loader.close();
    expect(err).toBeInstanceOf(DecodeError);
    expect(err.message).toContain(join(bad, "dog", "corrupt.jpg"));
    expect(err.message).toContain("onBadImage: 'skip'");
  });

  it.each([0, 2])(
    "onBadImage 'skip' drops it, counts it and emits 'skip' (numWorkers %i)",
    async (numWorkers) => {
      const ds = await imageFolder(bad);
      const loader = new DataLoader(ds, {
        batchSize: 8,
        numWorkers,
        transforms: [resize([8, 8])],
        onBadImage: "skip",
      });
      const events: string[] = [];
      loader.on("skip", (e: { path: string }) => events.push(e.path));
      const batches = await collect(loader);
      await loader.close();
      expect(batches).toHaveLength(1);
      expect(batches[0]!.shape).toEqual([4, 3, 8, 8]);
      expect(Array.from(batches[0]!.labels)).toEqual([0, 0, 0, 1]);
      expect(loader.skipped).toBe(1);
      expect(events).toEqual([join(bad, "dog", "corrupt.jpg")]);
    },
  );

  it("mismatched image sizes without a resize fail with ShapeMismatchError naming the file and the fix", async () => {
    const ds = await imageFolder(bad);
    const loader = new DataLoader(ds, { batchSize: 8, numWorkers: 0, onBadImage: "skip" });
    const err = await collect(loader).catch((e) => e);
    expect(err).toBeInstanceOf(ShapeMismatchError);
    expect(err.message).toContain(join(bad, "dog", "big.png"));
    expect(err.message).toContain("[3,9,12]");
    expect(err.message).toContain("resize");
  });
});
