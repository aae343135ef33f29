/**
 * Element types. `bf16` is a storage type only: WGSL has no bf16 arithmetic, so kernels unpack two bf16
 * values from each u32 into f32 registers. `f16` needs the adapter's `shader-f16` feature.
 */
export type DType = "f32" | "f16" | "bf16" | "i32" | "u32";

export const DTYPES: readonly DType[] = ["f32", "f16", "bf16", "i32", "u32"];

/** Bytes per element. */
export function bytesPerElement(dtype: DType): number {
  return dtype === "f16" || dtype === "bf16" ? 2 : 4;
}

/** Bytes a tensor of `numel` elements occupies on the GPU (rounded up to whole u32 words). */
export function storageBytes(dtype: DType, numel: number): number {
  return Math.max(4, Math.ceil((numel * bytesPerElement(dtype)) / 4) * 4);
}

export function isFloat(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16";
}

/** Host-side array type returned by `Tensor.data()` for each dtype (f16/bf16 are widened to f32). */
export type HostArray<D extends DType = DType> = D extends "i32"
  ? Int32Array
  : D extends "u32"
    ? Uint32Array
    : Float32Array;

export type TypedInput = Float32Array | Int32Array | Uint32Array | Uint16Array | Float64Array | number[];
