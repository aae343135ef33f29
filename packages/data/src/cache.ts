import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/**
 * Where converted data sets live: an explicit option, else $VIT_CACHE_DIR, else $XDG_CACHE_HOME/vit, else
 * ~/.cache/vit. One place per user so every checkout and run shares one conversion.
 */
export function cacheDir(explicit?: string): string {
  if (explicit) return explicit;
  const env = process.env.VIT_CACHE_DIR;
  if (env) return env;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg || join(homedir(), ".cache"), "vit");
}

/**
 * Writes a file so that readers see either nothing or the complete file: data goes to a uniquely named
 * temporary file in the same directory, is fsynced, then renamed over the target. Concurrent writers
 * (several ranks converting at once) each rename a complete file; the last one wins, harmlessly.
 */
export async function writeFileAtomic(path: string, parts: readonly Uint8Array[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  const fh = await open(tmp, "w");
  try {
    for (const p of parts) {
      let off = 0;
      while (off < p.length) off += (await fh.write(p, off, p.length - off)).bytesWritten;
    }
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
