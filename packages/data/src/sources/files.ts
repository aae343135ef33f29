import { readFile, stat } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { FormatError, NotFoundError } from "../errors.js";

/**
 * How far a gzip file may inflate. Data sets compress little (MNIST's images 4.7×, its labels 2×, CIFAR's
 * batches about 1.1×) while gzip's worst case is about 1030×: without a bound, a 13 MB file inflated to
 * 6 GB before any header was read. Files under `minBytes` once inflated are always accepted (tiny or
 * synthetic files may be mostly zeros); beyond that, at most `maxRatio` times the compressed size.
 * A genuine file beyond the bound can be gunzipped once and passed plain (plain files are read as they are).
 */
export interface GunzipLimits {
  maxRatio: number;
  minBytes: number;
}

export const GUNZIP_LIMITS: GunzipLimits = { maxRatio: 32, minBytes: 16 << 20 };

/**
 * Reads a whole file, gunzipping `.gz` files (detected by magic bytes, not only by name) within `limits`
 * (a FormatError naming the file when it would inflate further).
 */
export async function readMaybeGzip(
  path: string,
  what: string,
  hint: string,
  limits: GunzipLimits = GUNZIP_LIMITS,
): Promise<Uint8Array> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new NotFoundError(what, path, hint);
    throw e;
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    const max = Math.max(limits.minBytes, buf.length * limits.maxRatio);
    try {
      buf = gunzipSync(buf, { maxOutputLength: max });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        throw new FormatError(
          path,
          `gzip stream inflates to more than ${max} bytes, over ${limits.maxRatio}× its ${buf.length} compressed bytes ` +
            "(image data compresses about 1-5×): it is corrupt or a decompression bomb",
          `if the file is genuine, decompress it once (gunzip -k ${path}) and pass the plain file`,
        );
      }
      throw new FormatError(path, `gzip stream is corrupt (${(e as Error).message})`, "re-download the file");
    }
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
