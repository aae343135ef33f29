import { readFile, stat } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { FormatError, NotFoundError } from "../errors.js";

/** Reads a whole file, gunzipping `.gz` files (detected by magic bytes, not only by name). */
export async function readMaybeGzip(path: string, what: string, hint: string): Promise<Uint8Array> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new NotFoundError(what, path, hint);
    throw e;
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
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
