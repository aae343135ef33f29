import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { encodeImage } from "../decode.js";
import { Rng, Stream } from "../rng.js";

export interface SyntheticFolderOptions {
  images: number;
  classes: number;
  /** Side lengths are drawn uniformly from [minSize, maxSize] independently per axis. Default 224–500. */
  minSize?: number;
  maxSize?: number;
  format?: "jpg" | "png" | "webp";
  quality?: number;
  seed?: number;
}

/**
 * Writes an ImageFolder tree of smooth random images (gradients plus noise, so JPEG sizes and decode costs
 * resemble photos rather than white noise). For benchmarks and tests; returns the file paths.
 */
export async function writeSyntheticImageFolder(
  root: string,
  opts: SyntheticFolderOptions,
): Promise<string[]> {
  const minSize = opts.minSize ?? 224;
  const maxSize = opts.maxSize ?? 500;
  const format = opts.format ?? "jpg";
  const paths: string[] = [];
  for (let c = 0; c < opts.classes; c++)
    await mkdir(join(root, `class${String(c).padStart(3, "0")}`), { recursive: true });
  for (let i = 0; i < opts.images; i++) {
    const rng = Rng.derive(opts.seed ?? 0, Stream.synthetic, i, 7);
    const w = minSize + rng.int(maxSize - minSize + 1);
    const h = minSize + rng.int(maxSize - minSize + 1);
    const data = new Uint8Array(w * h * 3);
    const base = [rng.int(256), rng.int(256), rng.int(256)];
    const gx = [rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)];
    const gy = [rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        for (let k = 0; k < 3; k++) {
          const v = base[k]! + gx[k]! * x * 0.5 + gy[k]! * y * 0.5 + (rng.nextU32() & 31) - 16;
          data[o + k] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
    const cls = i % opts.classes;
    const path = join(
      root,
      `class${String(cls).padStart(3, "0")}`,
      `img${String(i).padStart(6, "0")}.${format}`,
    );
    await writeFile(
      path,
      await encodeImage({ data, width: w, height: h, channels: 3 }, format, opts.quality ?? 90),
    );
    paths.push(path);
  }
  return paths;
}
