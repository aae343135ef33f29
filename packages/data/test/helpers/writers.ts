import { writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";

/** Serializes an unsigned-byte IDX file (big-endian dims after the 0x00 0x00 0x08 ndim magic). */
export function idxBytes(dims: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  const v = new DataView(header.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

export async function writeIdx(path: string, dims: number[], data: Uint8Array, gzip = false): Promise<void> {
  const bytes = idxBytes(dims, data);
  await writeFile(path, gzip ? gzipSync(bytes) : bytes);
}

/** One CIFAR record: label byte(s) then the R, G and B planes (1024 bytes each). */
export function cifarRecord(labels: number[], r: Uint8Array, g: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(labels.length + 3072);
  out.set(labels, 0);
  out.set(r, labels.length);
  out.set(g, labels.length + 1024);
  out.set(b, labels.length + 2048);
  return out;
}

/** Writes a tar archive with the given entries, in order. */
export async function writeTar(
  path: string,
  entries: { name: string; data: Uint8Array | string }[],
): Promise<void> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    p.on("data", (c: unknown) => chunks.push(c as Buffer));
    p.on("end", () => resolve());
    p.on("error", reject);
  });
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      p.entry({ name: e.name }, typeof e.data === "string" ? e.data : Buffer.from(e.data), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  p.finalize();
  await done;
  await writeFile(path, Buffer.concat(chunks));
}
