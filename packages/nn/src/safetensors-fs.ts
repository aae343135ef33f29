/**
 * safetensors files (Node only): header-only reads, random access to single tensors, and atomic writes.
 * The format itself (parsing, validation, layout) is ./safetensors.ts; this module only moves its bytes
 * to and from disk. Browsers get @vit/nn without it (the package's `browser` export, src/browser.ts).
 */
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  type HostTensor,
  type HostTensorOf,
  SafetensorsError,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
  assertLittleEndian,
  corrupt,
  headerLengthFromPrefix,
  makeTensor,
  parseHeaderJson,
  parseSafetensors,
  planFile,
  toFloat32Array,
} from "./safetensors.js";

/** fs read/write calls take at most 2 GiB; stay well below. */
const IO_CHUNK = 1 << 30;

async function readExactly(fh: FileHandle, length: number, position: number, source: string) {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const want = Math.min(IO_CHUNK, length - done);
    const { bytesRead } = await fh.read(out, done, want, position + done);
    if (bytesRead === 0) {
      throw corrupt(source, `unexpected end of file at byte ${position + done} (truncated?)`);
    }
    done += bytesRead;
  }
  return out;
}

async function readHeaderFrom(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
  const st = await fh.stat();
  // Opening a directory succeeds; reading it fails with an EISDIR that does not say which path.
  if (st.isDirectory()) {
    throw new SafetensorsError(path, "a directory, not a safetensors file", "pass the .safetensors file itself");
  }
  const size = st.size;
  const prefix = size >= 8 ? await readExactly(fh, 8, 0, path) : new Uint8Array(8);
  const n = headerLengthFromPrefix(prefix, size, path);
  const json = await readExactly(fh, n, 8, path);
  return parseHeaderJson(json, size - 8 - n, path);
}

/** Reads and validates only the header of a safetensors file. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, "r");
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

export interface SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly header: SafetensorsHeader;
  keys(): string[];
  has(name: string): boolean;
  info(name: string): SafetensorsTensorInfo;
  /** Reads just this tensor's byte range, in its stored dtype. */
  read(name: string): Promise<HostTensor>;
  /** Reads one tensor and converts it to float32 (f16/bf16 exactly, integers by value). */
  readAsF32(name: string): Promise<HostTensorOf<"F32">>;
  close(): Promise<void>;
}

/** Opens a safetensors file for random access: the header is read now, tensors on demand. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  assertLittleEndian(path);
  const fh = await open(path, "r");
  let header: SafetensorsHeader;
  try {
    header = await readHeaderFrom(fh, path);
  } catch (e) {
    await fh.close();
    throw e;
  }
  let closed = false;
  const info = (name: string): SafetensorsTensorInfo => {
    const i = header.tensors.get(name);
    if (!i) {
      const some = [...header.tensors.keys()].slice(0, 8).join(", ");
      throw new SafetensorsError(
        path,
        `no tensor named "${name}" (has: ${some}${header.tensors.size > 8 ? ", …" : ""})`,
      );
    }
    return i;
  };
  const read = async (name: string): Promise<HostTensor> => {
    if (closed) throw new SafetensorsError(path, `read("${name}") after close()`);
    const i = info(name);
    const bytes = await readExactly(fh, i.byteLength, i.byteOffset, path);
    return makeTensor(i, bytes.buffer as ArrayBuffer);
  };
  return {
    path,
    metadata: header.metadata,
    header,
    keys: () => [...header.tensors.keys()],
    has: (name) => header.tensors.has(name),
    info,
    read,
    async readAsF32(name) {
      const t = await read(name);
      return { dtype: "F32", shape: t.shape, data: toFloat32Array(t) };
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

/** Loads every tensor, from a path (tensor by tensor, never the whole file at once) or a buffer. */
export async function loadSafetensors(
  pathOrBuffer: string | Uint8Array,
): Promise<Record<string, HostTensor>> {
  if (typeof pathOrBuffer !== "string") return parseSafetensors(pathOrBuffer).tensors;
  const file = await openSafetensors(pathOrBuffer);
  try {
    const out: Record<string, HostTensor> = {};
    for (const name of file.keys()) out[name] = await file.read(name);
    return out;
  } finally {
    await file.close();
  }
}

/**
 * Writes tensors atomically: a temporary file in the same directory is written tensor by tensor,
 * fsynced, then renamed over `path`, so readers see either the old file or the complete new one.
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, HostTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  assertLittleEndian(path);
  const { prefix, chunks } = planFile(tensors, metadata, path);
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fh = await open(tmp, "wx");
  try {
    await writeAll(fh, prefix);
    for (const c of chunks) await writeAll(fh, c);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  // Persist the rename itself; not every platform can fsync a directory, which is fine.
  try {
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* best effort */
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const len = Math.min(IO_CHUNK, bytes.byteLength - done);
    const { bytesWritten } = await fh.write(bytes, done, len);
    done += bytesWritten;
  }
}
