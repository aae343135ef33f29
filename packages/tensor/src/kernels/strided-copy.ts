/**
 * Strided copies (permute, slice, concat) and the slice backward, specialised per shape for CPU adapters
 * (why: ops/strided-copy.ts). Sizes and strides are compile-time constants, so every division by a size
 * becomes a multiply and shift; `vec` moves four elements per unit; each invocation handles PER units
 * strided by P.inv.
 */
import { defineKernel } from "./kernel.js";
import { declareBindings } from "./wgsl.js";

export const STRIDED_PER = 4;
export const STRIDED_WG = 64;

export const STRIDED_FIELDS = [
  ["units", "u32"],
  ["base", "u32"],
  ["inv", "u32"],
] as const;

export interface StridedCopyVariant {
  /** WGSL element type. */
  type: string;
  /** Units are vec4 of `type` (shape and strides then count vec4s). */
  vec: boolean;
  /** The strided side's shape and element strides, coalesced (ops/strided-copy.ts). */
  shape: number[];
  strides: number[];
  /** false: dst[i] = src[base + off(i)] (gather); true: dst[base + off(i)] = src[i] (scatter). */
  write: boolean;
}

/** WGSL computing `off` (element offset through `strides`) for flat unit index `i`. */
function decode(shape: readonly number[], strides: readonly number[]): string {
  let c = "var off = 0u; var rem = i;";
  for (let d = shape.length - 1; d >= 0; d--) {
    if (d === 0) c += ` off += rem * ${strides[d]}u;`;
    else c += ` { let c = rem % ${shape[d]}u; rem = rem / ${shape[d]}u; off += c * ${strides[d]}u; }`;
  }
  return c;
}

export const stridedCopyKernel = defineKernel("strided_copy", (v: StridedCopyVariant) => {
  const el = v.vec ? `vec4<${v.type}>` : v.type;
  return `${declareBindings(
    [
      { name: "src", type: el, access: "read" },
      { name: "dst", type: el, access: "read_write" },
    ],
    STRIDED_FIELDS,
  )}
@compute @workgroup_size(${STRIDED_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * ${STRIDED_WG}u;
  for (var j = 0u; j < ${STRIDED_PER}u; j++) {
    let i = idx + j * P.inv;
    if (i < P.units) {
      ${decode(v.shape, v.strides)}
      ${v.write ? "dst[P.base + off] = src[i];" : "dst[i] = src[P.base + off];"}
    }
  }
}`;
});

export const SLICE_GRAD_FIELDS = [
  ["units", "u32"],
  ["start", "u32"],
  ["size", "u32"],
  ["inv", "u32"],
] as const;

export interface SliceGradVariant {
  type: string;
  /** Units are vec4 (inner % 4 == 0). */
  vec: boolean;
  /** Size of the sliced dimension of dx, and units per row of it (inner, or inner / 4). */
  dim: number;
  w: number;
}

/** dx viewed as [outer, dim, w units] gets g inside the window start ≤ d < start + size, 0 elsewhere. */
export const sliceGradKernel = defineKernel("slice_grad", (v: SliceGradVariant) => {
  const el = v.vec ? `vec4<${v.type}>` : v.type;
  return `${declareBindings(
    [
      { name: "g", type: el, access: "read" },
      { name: "dx", type: el, access: "read_write" },
    ],
    SLICE_GRAD_FIELDS,
  )}
@compute @workgroup_size(${STRIDED_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * ${STRIDED_WG}u;
  for (var j = 0u; j < ${STRIDED_PER}u; j++) {
    let i = idx + j * P.inv;
    if (i < P.units) {
      let c = i % ${v.w}u;
      let r = i / ${v.w}u;
      let d = r % ${v.dim}u;
      let o = r / ${v.dim}u;
      var v = ${el}();
      if (d >= P.start && d < P.start + P.size) { v = g[(o * P.size + (d - P.start)) * ${v.w}u + c]; }
      dx[i] = v;
    }
  }
}`;
});
