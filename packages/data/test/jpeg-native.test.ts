import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { type Box, MAX_INPUT_PIXELS, decodeImage, decodeImageBox, encodedImageSize } from "../src/decode.js";
import { DecodeError } from "../src/errors.js";
import { jpegBoxDecoder, jpegDecoderInfo } from "../src/jpeg-native.js";
import { DataLoader } from "../src/loader.js";
import { Rng } from "../src/rng.js";
import { imageFolder } from "../src/sources/image-folder.js";
import { writeSyntheticImageFolder } from "../src/sources/synthetic-folder.js";
import {
  normalize,
  randomHorizontalFlip,
  randomResizedCrop,
  resizeCenterCrop,
} from "../src/transforms/spec.js";
import { raw } from "./helpers/pattern.js";
import { collect, tempDir } from "./helpers/tmp.js";

const FIXTURES = new URL("./fixtures/jpeg/", import.meta.url);
const pil = JSON.parse(readFileSync(new URL("pil-rgb.json", FIXTURES), "utf8")) as {
  files: Record<string, { width: number; height: number; sha256: string }>;
};

function decoder() {
  const d = jpegBoxDecoder();
  if (!d) throw new Error(`the native JPEG decoder is missing: ${jpegDecoderInfo().reason}`);
  return d;
}

/** The reference: sharp (libvips) decodes the whole file, then cuts the box out. */
async function sharpBox(bytes: Uint8Array, box: Box): Promise<Buffer> {
  return sharp(bytes).extract(box).removeAlpha().toColourspace("srgb").raw().toBuffer();
}

/** Boxes that touch every edge, single pixels, the whole image, and random ones. */
function boxes(w: number, h: number, rng: Rng, random: number): Box[] {
  const out: Box[] = [
    { left: 0, top: 0, width: w, height: h },
    { left: 0, top: 0, width: 1, height: 1 },
    { left: w - 1, top: h - 1, width: 1, height: 1 },
    { left: w - 7, top: h - 5, width: 7, height: 5 },
    { left: 17, top: 0, width: Math.min(9, w - 17), height: h },
    { left: 0, top: Math.min(33, h - 3), width: w, height: 3 },
  ];
  for (let i = 0; i < random; i++) {
    const width = 1 + rng.int(w);
    const height = 1 + rng.int(h);
    out.push({ left: rng.int(w - width + 1), top: rng.int(h - height + 1), width, height });
  }
  return out;
}

async function expectSameAsSharp(name: string, bytes: Uint8Array, w: number, h: number, rng: Rng) {
  const d = decoder();
  for (const box of boxes(w, h, rng, 12)) {
    const out = new Uint8Array(box.width * box.height * 3);
    const ok = d.decodeBoxSync(bytes, box.left, box.top, box.width, box.height, out);
    expect(ok, `${name} ${JSON.stringify(box)} decoded natively`).toBe(true);
    const want = await sharpBox(bytes, box);
    expect(Buffer.from(out).equals(want), `${name} ${JSON.stringify(box)} equals sharp`).toBe(true);
  }
}

describe("native JPEG box decoder (libjpeg-turbo)", () => {
  it("is built and loads (gcc + libjpeg62-turbo-dev at build time)", () => {
    expect(decoder().version).toMatch(/libjpeg/);
    expect(jpegDecoderInfo().name).toContain("native box decode");
  });

  it("decodes each fixture exactly as PIL does (sha256 of PIL's RGB pixels)", async () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".jpg"));
    expect(files.sort()).toEqual(Object.keys(pil.files).sort());
    for (const f of files) {
      const { width, height, sha256 } = pil.files[f]!;
      const out = new Uint8Array(width * height * 3);
      const bytes = readFileSync(new URL(f, FIXTURES));
      expect(await decoder().decodeBox(bytes, 0, 0, width, height, out), f).toBe(true);
      expect(createHash("sha256").update(out).digest("hex"), f).toBe(sha256);
    }
  });

  it("gives sharp's pixels for any box of 4:2:0/4:2:2/4:4:0/4:4:4, progressive, restart, arithmetic and gray files", async () => {
    const rng = new Rng(11);
    for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith(".jpg"))) {
      const { width, height } = pil.files[f]!;
      await expectSameAsSharp(f, readFileSync(new URL(f, FIXTURES)), width, height, rng);
    }
    // Larger files, so that boxes start many block rows down (skipped rows) and far right (cropped columns).
    const made: [string, Promise<Buffer>][] = [
      ["420 q90", raw(301, 233, 1).jpeg({ quality: 90 }).toBuffer()],
      [
        "444 progressive",
        raw(301, 233, 2).jpeg({ chromaSubsampling: "4:4:4", progressive: true }).toBuffer(),
      ],
      ["gray", raw(257, 190, 3).toColourspace("b-w").jpeg().toBuffer()],
    ];
    for (const [name, bytes] of made) {
      const { width, height } = await sharp(await bytes).metadata();
      await expectSameAsSharp(name, await bytes, width!, height!, rng);
    }
  });

  it("decodes on the thread pool with the same result as the synchronous call", async () => {
    const bytes = await raw(120, 90, 4).jpeg().toBuffer();
    const box = { left: 31, top: 22, width: 50, height: 41 };
    const a = new Uint8Array(50 * 41 * 3);
    const b = new Uint8Array(50 * 41 * 3);
    const [ok] = await Promise.all([
      decoder().decodeBox(bytes, box.left, box.top, box.width, box.height, a),
      decoder().decodeBox(bytes, 0, 0, 1, 1, new Uint8Array(3)),
    ]);
    expect(ok).toBe(true);
    expect(decoder().decodeBoxSync(bytes, box.left, box.top, box.width, box.height, b)).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it("declines what it does not handle, and the loader's decode then behaves as sharp does", async () => {
    const d = decoder();
    const out = new Uint8Array(40 * 30 * 3);
    const cmyk = await raw(40, 30, 5).toColourspace("cmyk").jpeg().toBuffer();
    expect(d.decodeBoxSync(cmyk, 0, 0, 40, 30, out)).toBe(false);
    const viaLoader = await decodeImageBox(cmyk, "cmyk.jpg", { left: 0, top: 0, width: 40, height: 30 });
    expect(
      Buffer.from(viaLoader.data).equals(await sharpBox(cmyk, { left: 0, top: 0, width: 40, height: 30 })),
    ).toBe(true);

    const good = await raw(40, 30, 6).jpeg().toBuffer();
    const truncated = good.subarray(0, Math.floor(good.length * 0.6));
    expect(d.decodeBoxSync(truncated, 0, 0, 40, 30, out)).toBe(false);
    await expect(decodeImage(truncated, "cut.jpg")).rejects.toBeInstanceOf(DecodeError);
    expect(d.decodeBoxSync(Buffer.from("\xff\xd8\xff not really a jpeg"), 0, 0, 1, 1, out)).toBe(false);
    // A box reaching past the image: declined here, reported by sharp with the file name.
    expect(d.decodeBoxSync(good, 30, 0, 20, 10, out)).toBe(false);
    const err = await decodeImageBox(good, "small.jpg", { left: 30, top: 0, width: 20, height: 10 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DecodeError);
    expect(String(err)).toContain("small.jpg");
  });

  it("rejects bad arguments with an error instead of touching memory it does not own", async () => {
    const d = decoder();
    const bytes = await raw(20, 20, 7).jpeg().toBuffer();
    expect(() => d.decodeBoxSync(bytes, 0, 0, 10, 10, new Uint8Array(10))).toThrow(
      /smaller than width\*height\*3/,
    );
    expect(() => d.decodeBoxSync(bytes, -1, 0, 1, 1, new Uint8Array(3))).toThrow(RangeError);
    expect(() => d.decodeBoxSync(bytes, 0, 0, 0, 1, new Uint8Array(3))).toThrow(RangeError);
    expect(() => d.decodeBoxSync("x" as unknown as Uint8Array, 0, 0, 1, 1, new Uint8Array(3))).toThrow(
      TypeError,
    );
    expect(() => (d.decodeBoxSync as unknown as (...a: unknown[]) => boolean)(bytes, 0, 0)).toThrow(
      TypeError,
    );
    expect(() => d.decodeBox(bytes, 0, 0, 1, 1, new Float32Array(3) as unknown as Uint8Array)).toThrow(
      TypeError,
    );
  });
});

/** `bytes` with the width and height of its first start-of-frame (JPEG) or IHDR (PNG) overwritten. */
function patchSize(bytes: Buffer, width: number, height: number): Buffer {
  const b = Buffer.from(bytes);
  if (b[0] === 0x89) {
    b.writeUInt32BE(width, 16);
    b.writeUInt32BE(height, 20);
    return b;
  }
  let i = 2;
  while (!(b[i + 1]! >= 0xc0 && b[i + 1]! <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(b[i + 1]!)))
    i += 2 + b.readUInt16BE(i + 2);
  b.writeUInt16BE(height, i + 5);
  b.writeUInt16BE(width, i + 7);
  return b;
}

describe("images whose header exceeds the pixel limit", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });

  it("are refused before anything is allocated for them, by both decoders, naming the file and the fix", async () => {
    expect(MAX_INPUT_PIXELS).toBe(268402689); // sharp's default limitInputPixels
    decoder(); // the native path is the one under test for JPEGs
    const huge = patchSize(await raw(16, 16, 8).jpeg().toBuffer(), 65500, 65500);
    const file = join(dir, "huge.jpg");
    writeFileSync(file, huge);
    const png = patchSize(await raw(16, 16, 9).png().toBuffer(), 20000, 20000);
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ["huge.jpg", () => decodeImage(huge, "huge.jpg")],
      [file, () => decodeImage(file, file)],
      ["huge.jpg", () => decodeImageBox(huge, "huge.jpg", { left: 0, top: 0, width: 1, height: 1 })],
      ["huge.jpg", () => encodedImageSize(huge, "huge.jpg")],
      ["huge.png", () => decodeImage(png, "huge.png")],
    ];
    for (const [name, attempt] of attempts) {
      const err = await attempt().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(DecodeError);
      const message = (err as Error).message;
      expect(message).toContain(`Cannot decode image ${name}: its header declares`);
      expect(message).toMatch(
        /(65500×65500 = 4290250000|20000×20000 = 400000000) pixels, over the limit of 268402689/,
      );
      expect(message).toContain("(fix: if the image is real, downscale it");
    }
    // Just under the limit is not refused for its size (this 16383×16383 header has no pixel data behind it).
    const edge = patchSize(await raw(16, 16, 8).jpeg().toBuffer(), 16383, 16383);
    expect(await encodedImageSize(edge, "edge.jpg")).toEqual({ width: 16383, height: 16383 });
  });
});

describe("the loader with the native decoder", () => {
  /** Every batch of one epoch, with workers started under the given VIT_DATA_JPEG_ADDON. */
  async function epoch(root: string, addon: string, train: boolean): Promise<Float32Array[]> {
    const saved = process.env.VIT_DATA_JPEG_ADDON;
    process.env.VIT_DATA_JPEG_ADDON = addon; // worker threads copy the environment when they start
    try {
      const loader = new DataLoader(await imageFolder(root), {
        batchSize: 5,
        numWorkers: 2,
        seed: 3,
        transforms: train
          ? [randomResizedCrop(32), randomHorizontalFlip(), normalize()]
          : [...resizeCenterCrop(32), normalize()],
      });
      try {
        return (await collect(loader)).map((b) => b.images as Float32Array);
      } finally {
        await loader.close();
      }
    } finally {
      process.env.VIT_DATA_JPEG_ADDON = saved;
    }
  }

  it("produces the same batches as sharp for training (crop-on-decode) and eval (whole image) pipelines", async () => {
    const root = await tempDir();
    await writeSyntheticImageFolder(root, { images: 12, classes: 3, minSize: 40, maxSize: 90, seed: 5 });
    const native = process.env.VIT_DATA_JPEG_ADDON!;
    for (const train of [true, false]) {
      const a = await epoch(root, native, train);
      const b = await epoch(root, "off", train);
      expect(a.length).toBe(3);
      a.forEach((x, i) =>
        expect(Buffer.from(x.buffer).equals(Buffer.from(b[i]!.buffer)), `batch ${i}`).toBe(true),
      );
    }
  });
});
