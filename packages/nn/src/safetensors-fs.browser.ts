/**
 * The browser build's stand-in for ./safetensors-fs.ts: there are no file paths in a page. In-memory bytes
 * still load; for files use readSafetensors (Blob, File, fetch Response) and safetensorsBlob.
 */
import { type HostTensor, SafetensorsError, parseSafetensors } from "./safetensors.js";

function nodeOnly(what: string, path: string): SafetensorsError {
  return new SafetensorsError(
    path,
    `${what} reads files and exists only in Node; in a browser use readSafetensors(blob | response) or safetensorsBlob(tensors)`,
  );
}

export async function readSafetensorsHeader(path: string): Promise<never> {
  throw nodeOnly("readSafetensorsHeader", path);
}

export async function openSafetensors(path: string): Promise<never> {
  throw nodeOnly("openSafetensors", path);
}

export async function loadSafetensors(
  pathOrBuffer: string | Uint8Array,
): Promise<Record<string, HostTensor>> {
  if (typeof pathOrBuffer !== "string") return parseSafetensors(pathOrBuffer).tensors;
  throw nodeOnly("loadSafetensors(path)", pathOrBuffer);
}

export async function saveSafetensors(path: string): Promise<never> {
  throw nodeOnly("saveSafetensors", path);
}
