/**
 * safetensors from and to the web's byte containers: ArrayBuffer, typed arrays, Blob/File (a dropped or
 * picked file) and fetch Responses; and a Blob to download. Works in browsers and in Node (>= 20 has Blob
 * and Response). Parsing and validation are ./safetensors.ts's.
 */
import { type HostTensor, SafetensorsError, parseSafetensors, serializeSafetensors } from "./safetensors.js";

export type SafetensorsSource = ArrayBuffer | ArrayBufferView | Blob | Response;

/**
 * Reads a whole safetensors file from memory, a Blob/File or a fetch Response. `name` labels errors (a
 * File's or Response's own name/URL is used when omitted).
 */
export async function readSafetensors(
  source: SafetensorsSource,
  name?: string,
): Promise<{ tensors: Record<string, HostTensor>; metadata: Record<string, string> }> {
  let label = name ?? "<buffer>";
  let bytes: Uint8Array;
  if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (ArrayBuffer.isView(source))
    bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  else if (typeof Response !== "undefined" && source instanceof Response) {
    label = name ?? (source.url || "<response>");
    if (!source.ok) {
      throw new SafetensorsError(
        label,
        `HTTP ${source.status} ${source.statusText}: the server sent no file`,
      );
    }
    bytes = new Uint8Array(await source.arrayBuffer());
  } else if (typeof Blob !== "undefined" && source instanceof Blob) {
    label = name ?? ((source as { name?: string }).name || "<blob>");
    bytes = new Uint8Array(await source.arrayBuffer());
  } else {
    throw new SafetensorsError(label, "expected an ArrayBuffer, a typed array, a Blob or a Response");
  }
  return parseSafetensors(bytes, label);
}

/** The tensors as a safetensors Blob (for a download link or an upload). */
export function safetensorsBlob(
  tensors: Record<string, HostTensor>,
  metadata?: Record<string, string>,
): Blob {
  const bytes = serializeSafetensors(tensors, metadata);
  return new Blob([bytes.buffer as ArrayBuffer], { type: "application/octet-stream" });
}
