/**
 * safetensors read/write (https://github.com/huggingface/safetensors).
 *
 * Layout: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}`, then the raw
 * little-endian tensor bytes; offsets are relative to the start of the data section.
 *
 * Validation follows the reference Rust reader: the tensors, sorted by offset, must tile the data
 * section exactly (no gap, no overlap, nothing left over) and each byte range must equal
 * shape × dtype size. The order of keys inside the JSON is free (writers differ), so "unsorted" is
 * only an error when it makes ranges overlap or leave holes.
 *
 * This module holds the format and works on bytes anywhere (Node and browsers); the file functions
 * (random access, atomic writes) are Node-only and live in ./safetensors-fs.ts, and ArrayBuffer / Blob /
 * fetch Response sources in ./safetensors-web.ts.
 */
import { bf16ArrayToF32, f16ArrayToF32 } from "@vit/half";
import { VitError } from "@vit/tensor";

export type SafetensorsDtype = "F32" | "F16" | "BF16" | "I64" | "I32" | "U8" | "F64";

/** The typed array that holds each dtype. F16 and BF16 stay raw 16-bit patterns. */
export interface DtypeArrayMap {
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  U8: Uint8Array;
  F64: Float64Array;
}
export type TypedArray = DtypeArrayMap[SafetensorsDtype];

export interface HostTensorOf<D extends SafetensorsDtype> {
  dtype: D;
  shape: number[];
  data: DtypeArrayMap[D];
}
/** A tensor in host memory; `dtype` discriminates the type of `data`. */
export type HostTensor = { [D in SafetensorsDtype]: HostTensorOf<D> }[SafetensorsDtype];

export interface SafetensorsTensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute offset of the tensor's first byte in the file (8 + N + data_offsets[0]). */
  byteOffset: number;
  byteLength: number;
  /** `data_offsets` as written in the header (relative to the data section). */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
  /** N, the JSON header's length in bytes. */
  headerLength: number;
  /** Absolute offset of the data section (8 + N). */
  dataOffset: number;
}

/** A corrupt, truncated or unwritable safetensors file; the message names the file, the problem and the fix. */
export class SafetensorsError extends VitError {
  constructor(
    readonly source: string,
    readonly problem: string,
    hint?: string,
  ) {
    super(`${source}: ${problem}`, { hint, where: source });
  }
}

/** A file that is not (or no longer) valid safetensors. */
export function corrupt(source: string, problem: string): SafetensorsError {
  return new SafetensorsError(source, problem, "the file is damaged or not safetensors: save or download it again");
}

type ArrayCtor = { new (buffer: ArrayBuffer): TypedArray; readonly BYTES_PER_ELEMENT: number };
const DTYPE_ARRAY: Record<SafetensorsDtype, ArrayCtor> = {
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  U8: Uint8Array,
  F64: Float64Array,
};
const SUPPORTED = Object.keys(DTYPE_ARRAY) as SafetensorsDtype[];

export function dtypeByteSize(dtype: SafetensorsDtype): number {
  return DTYPE_ARRAY[dtype].BYTES_PER_ELEMENT;
}

/** Same limit as the reference implementation: guards against allocating garbage lengths. */
const MAX_HEADER_BYTES = 100_000_000;
const BUFFER_SOURCE = "<buffer>";

// Data is reinterpreted in place, which is only right on a little-endian host (every current JS
// platform); refuse rather than silently byte-swap garbage.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
export function assertLittleEndian(source: string): void {
  if (!LITTLE_ENDIAN) throw new SafetensorsError(source, "big-endian hosts are not supported");
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Reads the 8-byte prefix; returns N. */
export function headerLengthFromPrefix(prefix: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8) {
    throw corrupt(source, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n === 0n) throw corrupt(source, "header length is 0");
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw corrupt(source, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (n > BigInt(fileSize - 8)) {
    throw corrupt(
      source,
      `header length ${n} runs past the end of the file (${fileSize} bytes; truncated or not safetensors)`,
    );
  }
  return Number(n);
}

/** Parses and validates the JSON header against a data section of `dataLength` bytes. */
export function parseHeaderJson(bytes: Uint8Array, dataLength: number, source: string): SafetensorsHeader {
  const headerLength = bytes.byteLength;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw corrupt(source, "header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw corrupt(source, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw corrupt(source, "header JSON is not an object");
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensorInfo>();
  const dataOffset = 8 + headerLength;
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        throw corrupt(source, "__metadata__ is not an object of strings");
      }
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== "string") {
          throw corrupt(source, `__metadata__.${k} is not a string`);
        }
        metadata[k] = v;
      }
      continue;
    }
    tensors.set(name, parseEntry(name, entry, dataOffset, dataLength, source));
  }
  checkTiling(tensors, dataLength, source);
  return { tensors, metadata, headerLength, dataOffset };
}

function parseEntry(
  name: string,
  entry: unknown,
  dataOffset: number,
  dataLength: number,
  source: string,
): SafetensorsTensorInfo {
  const bad = (problem: string) => corrupt(source, `tensor "${name}": ${problem}`);
  if (typeof entry !== "object" || entry === null) throw bad("header entry is not an object");
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== "string" || !(SUPPORTED as string[]).includes(dtype)) {
    throw bad(`unsupported dtype ${JSON.stringify(dtype)} (supported: ${SUPPORTED.join(", ")})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw bad(`data_offsets [${begin}, ${end}] end before begin`);
  if (end > dataLength) {
    throw bad(
      `data_offsets [${begin}, ${end}] run past the end of the data section (${dataLength} bytes; file truncated?)`,
    );
  }
  const dt = dtype as SafetensorsDtype;
  const expected = numel(shape) * dtypeByteSize(dt);
  if (expected !== end - begin) {
    throw bad(
      `shape [${shape.join(", ")}] × ${dt} (${dtypeByteSize(dt)} bytes) = ${expected} bytes, ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin} bytes`,
    );
  }
  return {
    dtype: dt,
    shape: [...shape],
    byteOffset: dataOffset + begin,
    byteLength: end - begin,
    dataOffsets: [begin, end],
  };
}

/** Sorted by begin, the ranges must tile [0, dataLength) exactly. */
function checkTiling(tensors: Map<string, SafetensorsTensorInfo>, dataLength: number, source: string): void {
  const sorted = [...tensors].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
  let cursor = 0;
  let prev = "(start of data)";
  for (const [name, info] of sorted) {
    const [begin, end] = info.dataOffsets;
    if (begin < cursor) {
      throw corrupt(
        source,
        `tensor "${name}" data_offsets [${begin}, ${end}] overlap "${prev}" (which ends at ${cursor})`,
      );
    }
    if (begin > cursor) {
      throw corrupt(
        source,
        `gap of ${begin - cursor} bytes between "${prev}" (ends at ${cursor}) and "${name}" (begins at ${begin})`,
      );
    }
    cursor = end;
    prev = name;
  }
  if (cursor !== dataLength) {
    throw corrupt(
      source,
      `data section is ${dataLength} bytes but the tensors cover ${cursor} (trailing bytes)`,
    );
  }
}

export function makeTensor(info: SafetensorsTensorInfo, bytes: ArrayBuffer): HostTensor {
  const data = new DTYPE_ARRAY[info.dtype](bytes);
  return { dtype: info.dtype, shape: [...info.shape], data } as HostTensor;
}

// ---------------------------------------------------------------------------------------------
// Buffers

/** Parses a whole safetensors file held in memory. Each tensor gets its own (aligned) copy. */
export function parseSafetensors(
  buf: Uint8Array,
  source: string = BUFFER_SOURCE,
): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  assertLittleEndian(source);
  const n = headerLengthFromPrefix(buf.subarray(0, 8), buf.byteLength, source);
  const header = parseHeaderJson(buf.subarray(8, 8 + n), buf.byteLength - 8 - n, source);
  const tensors: Record<string, HostTensor> = {};
  for (const [name, info] of header.tensors) {
    // Copy into a fresh ArrayBuffer so every element size is aligned and the tensor owns its memory.
    // (Not buf.slice(): on a Node Buffer that is a view into a shared pool.)
    const bytes = new Uint8Array(info.byteLength);
    bytes.set(buf.subarray(info.byteOffset, info.byteOffset + info.byteLength));
    tensors[name] = makeTensor(info, bytes.buffer);
  }
  return { tensors, metadata: header.metadata };
}

/** Header bytes (8-byte prefix + JSON padded with spaces to a multiple of 8) and each tensor's bytes. */
export function planFile(
  tensors: Record<string, HostTensor>,
  metadata: Record<string, string> | undefined,
  source: string,
): { prefix: Uint8Array; chunks: Uint8Array[]; total: number } {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new SafetensorsError(source, `metadata "${k}" is not a string`);
    }
    header.__metadata__ = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new SafetensorsError(source, `"__metadata__" cannot name a tensor`);
    const ctor = DTYPE_ARRAY[t.dtype];
    if (!ctor) throw new SafetensorsError(source, `tensor "${name}": unsupported dtype ${String(t.dtype)}`);
    if (!(t.data instanceof ctor)) {
      throw new SafetensorsError(source, `tensor "${name}": dtype ${t.dtype} needs a ${ctor.name}`);
    }
    if (!t.shape.every(isNonNegInt) || numel(t.shape) !== t.data.length) {
      throw new SafetensorsError(
        source,
        `tensor "${name}": shape [${t.shape.join(", ")}] does not match ${t.data.length} elements`,
      );
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
    chunks.push(bytes);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const prefix = new Uint8Array(8 + padded).fill(0x20);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(padded), true);
  prefix.set(json, 8);
  return { prefix, chunks, total: prefix.byteLength + offset };
}

/** Serialises tensors (in the record's order) to safetensors bytes. */
export function serializeSafetensors(
  tensors: Record<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  assertLittleEndian(BUFFER_SOURCE);
  const { prefix, chunks, total } = planFile(tensors, metadata, BUFFER_SOURCE);
  const out = new Uint8Array(total);
  out.set(prefix, 0);
  let at = prefix.byteLength;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Float conversions: the one host implementation, @vit/half, under the names this module has exported.
export {
  bf16BitsToF32 as bf16ToF32,
  bf16ArrayToF32,
  f16BitsToF32 as f16ToF32,
  f16ArrayToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32ToBf16Bits as f32ToBf16,
  f32ToF16Bits as f32ToF16,
} from "@vit/half";

/** Any host tensor's values as float32 (f16/bf16 decoded; integers converted by value). */
export function toFloat32Array(t: HostTensor): Float32Array {
  switch (t.dtype) {
    case "F32":
      return t.data;
    case "F16":
      return f16ArrayToF32(t.data);
    case "BF16":
      return bf16ArrayToF32(t.data);
    case "I64": {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]!);
      return out;
    }
    default:
      return Float32Array.from(t.data);
  }
}
