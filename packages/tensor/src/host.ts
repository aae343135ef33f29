/**
 * Host values <-> the bytes a GPU buffer of a dtype holds: encoding for uploads, decoding for `t.data()`.
 * Needs only the Tensor type, so tensor.ts can read itself back without importing the ops that create
 * tensors (no import cycle).
 */
import { type DType, storageBytes } from "./dtype.js";
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from "@vit/half";
import type { Tensor } from "./tensor.js";

/** Host values encoded as the bytes a GPU buffer of `dtype` holds. */
export function encode(values: ArrayLike<number>, dtype: DType): ArrayBufferView {
  const n = values.length;
  switch (dtype) {
    case "f32":
      return values instanceof Float32Array ? values : Float32Array.from(values);
    case "i32":
      return values instanceof Int32Array ? values : Int32Array.from(values);
    case "u32":
      return values instanceof Uint32Array ? values : Uint32Array.from(values);
    case "f16": {
      const out = new Uint16Array(n + (n & 1));
      for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(values[i]!);
      return out;
    }
    case "bf16": {
      const out = new Uint16Array(n + (n & 1));
      for (let i = 0; i < n; i++) out[i] = f32ToBf16Bits(values[i]!);
      return out;
    }
  }
}

export async function readTensor(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
  const bytes = storageBytes(t.dtype, t.numel);
  const buf = await t.device.read(t.buffer, bytes, `data() of ${t.describe()}`);
  switch (t.dtype) {
    case "f32":
      return new Float32Array(buf, 0, t.numel);
    case "i32":
      return new Int32Array(buf, 0, t.numel);
    case "u32":
      return new Uint32Array(buf, 0, t.numel);
    case "f16": {
      const h = new Uint16Array(buf);
      const out = new Float32Array(t.numel);
      for (let i = 0; i < t.numel; i++) out[i] = f16BitsToF32(h[i]!);
      return out;
    }
    case "bf16": {
      const h = new Uint16Array(buf);
      const out = new Float32Array(t.numel);
      for (let i = 0; i < t.numel; i++) out[i] = bf16BitsToF32(h[i]!);
      return out;
    }
  }
}
