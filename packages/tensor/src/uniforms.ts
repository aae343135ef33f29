/**
 * Packing a kernel's uniform values into the Device's uniform ring, in the layout kernels/wgsl.ts
 * declares (`struct Params`: every field a 4-byte u32/i32/f32, in declaration order, so no padding).
 */
import type { UniformFields } from "./kernels/wgsl.js";

/** Bytes of a uniform block of `n` 4-byte fields (a multiple of 16, at least 16). */
export function uniformBlockBytes(n: number): number {
  return Math.max(16, Math.ceil((n * 4) / 16) * 16);
}

/** Writes uniform values at `offset` of `dv` in declaration order (no allocation: runs per dispatch). */
export function packUniformsInto(
  dv: DataView,
  offset: number,
  fields: UniformFields,
  values: readonly number[],
): void {
  if (fields.length !== values.length) {
    // bug, not user input
    throw new Error(`internal: ${fields.length} uniform fields but ${values.length} values`);
  }
  for (let i = 0; i < fields.length; i++) {
    const t = fields[i]![1];
    const v = values[i]!;
    if (t === "f32") dv.setFloat32(offset + i * 4, v, true);
    else if (t === "i32") dv.setInt32(offset + i * 4, v, true);
    else dv.setUint32(offset + i * 4, v >>> 0, true);
  }
}
