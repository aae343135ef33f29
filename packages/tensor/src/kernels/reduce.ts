/**
 * Reductions (sum, max; a mean is a sum with P.scale = 1/m). The general kernel gives each output element
 * one invocation that walks the reduced elements through uniform sizes and strides; two specialised ones
 * cover the layouts every training step reduces: leading axes of a [rows, cols] view (rows: chunks of
 * rows, then a pass combining the chunks) and trailing ones (cols: one invocation per row, vec4 loads).
 */
import type { DType } from "../dtype.js";
import { defineKernel } from "./kernel.js";
import { type UniformType, declareBindings, main1D, wgslType } from "./wgsl.js";

export type ReduceKind = "sum" | "max";

const init = (kind: ReduceKind) => (kind === "sum" ? "0.0" : "-3.402823e38");

/** Uniforms of the general kernel: n, m, scale, then (size, stride) of each kept axis, then of each reduced one. */
export function reduceFields(kept: number, axes: number): Array<[string, UniformType]> {
  const fields: Array<[string, UniformType]> = [
    ["n", "u32"],
    ["m", "u32"],
    ["scale", "f32"],
  ];
  for (let k = 0; k < kept; k++) fields.push([`ko${k}`, "u32"], [`ks${k}`, "u32"]);
  for (let k = 0; k < axes; k++) fields.push([`ro${k}`, "u32"], [`rs${k}`, "u32"]);
  return fields;
}

export interface ReduceVariant {
  kind: ReduceKind;
  dtype: DType;
  /** Numbers of kept and of reduced axes. */
  kept: number;
  axes: number;
}

export const reduceKernel = defineKernel("reduce", (v: ReduceVariant) => {
  const ty = wgslType(v.dtype);
  let base = "var base = 0u; var rem = idx;\n";
  for (let k = v.kept - 1; k >= 0; k--)
    base += `  { let c = rem % P.ko${k}; rem = rem / P.ko${k}; base += c * P.ks${k}; }\n`;
  let inner = "var off = base; var r = j;\n";
  for (let k = v.axes - 1; k >= 0; k--)
    inner += `    { let c = r % P.ro${k}; r = r / P.ro${k}; off += c * P.rs${k}; }\n`;
  const acc = v.kind === "sum" ? "acc = acc + v;" : "acc = max(acc, v);";
  return `${v.dtype === "f16" ? "enable f16;" : ""}
${declareBindings(
  [
    { name: "x", type: ty, access: "read" },
    { name: "out", type: ty, access: "read_write" },
  ],
  reduceFields(v.kept, v.axes),
)}
${main1D()}
  if (idx >= P.n) { return; }
  ${base}
  var acc: f32 = ${init(v.kind)};
  for (var j = 0u; j < P.m; j++) {
    ${inner}
    let v = f32(x[off]);
    ${acc}
  }
  out[idx] = ${ty}(acc * P.scale);
}`;
});

export const REDUCE_ROWS_FIELDS = [
  ["rows", "u32"],
  ["groups", "u32"],
  ["chunks", "u32"],
  ["chunkRows", "u32"],
  ["scale", "f32"],
] as const;

export interface ReduceRowsVariant {
  kind: ReduceKind;
  dtype: DType;
  /** cols % 4 == 0: column groups are vec4. */
  vec: boolean;
  /** Write f32 partial results per chunk (combined by reduceRowsFinalKernel) rather than the output. */
  partial: boolean;
}

function rowsParts(v: { kind: ReduceKind; dtype: DType; vec: boolean }) {
  const ty = wgslType(v.dtype);
  const acc = v.vec ? "vec4f" : "f32";
  return {
    f16: v.dtype === "f16" ? "enable f16;" : "",
    el: v.vec ? `vec4<${ty}>` : ty,
    acc,
    pel: v.vec ? "vec4f" : "f32",
    init: `${acc}(${init(v.kind)})`,
    combine: (a: string, b: string) => (v.kind === "sum" ? `${a} + ${b}` : `max(${a}, ${b})`),
  };
}

/** Each invocation reduces P.chunkRows rows of one column group. */
export const reduceRowsKernel = defineKernel("reduce_rows", (v: ReduceRowsVariant) => {
  const { f16, el, acc, pel, init: i0, combine } = rowsParts(v);
  return `${f16}
${declareBindings(
  [
    { name: "x", type: el, access: "read" },
    { name: "out", type: v.partial ? pel : el, access: "read_write" },
  ],
  REDUCE_ROWS_FIELDS,
)}
${main1D(64)}
  if (idx >= P.groups * P.chunks) { return; }
  let g = idx % P.groups;
  let chunk = idx / P.groups;
  let r0 = chunk * P.chunkRows;
  let r1 = min(r0 + P.chunkRows, P.rows);
  var a = ${i0};
  for (var r = r0; r < r1; r++) { a = ${combine("a", `${acc}(x[r * P.groups + g])`)}; }
  ${v.partial ? "out[idx] = a;" : `out[g] = ${el}(a * P.scale);`}
}`;
});

export interface ReduceRowsFinalVariant {
  kind: ReduceKind;
  dtype: DType;
  vec: boolean;
}

/** Combines the chunks' partial results of reduceRowsKernel. */
export const reduceRowsFinalKernel = defineKernel("reduce_rows_final", (v: ReduceRowsFinalVariant) => {
  const { f16, el, pel, init: i0, combine } = rowsParts(v);
  return `${f16}
${declareBindings(
  [
    { name: "x", type: pel, access: "read" },
    { name: "out", type: el, access: "read_write" },
  ],
  REDUCE_ROWS_FIELDS,
)}
${main1D(64)}
  if (idx >= P.groups) { return; }
  var a = ${i0};
  for (var c = 0u; c < P.chunks; c++) { a = ${combine("a", "x[c * P.groups + idx]")}; }
  out[idx] = ${el}(a * P.scale);
}`;
});

export const REDUCE_COLS_FIELDS = [
  ["rows", "u32"],
  ["cols", "u32"],
  ["scale", "f32"],
] as const;

export interface ReduceColsVariant {
  kind: ReduceKind;
  dtype: DType;
  vec: boolean;
}

export const reduceColsKernel = defineKernel("reduce_cols", (v: ReduceColsVariant) => {
  const ty = wgslType(v.dtype);
  const body = v.vec
    ? v.kind === "sum"
      ? "var a4 = vec4f(0.0); for (var c = 0u; c < P.cols / 4u; c++) { a4 += vec4f(x[base / 4u + c]); } a = a4.x + a4.y + a4.z + a4.w;"
      : "var a4 = vec4f(-3.402823e38); for (var c = 0u; c < P.cols / 4u; c++) { a4 = max(a4, vec4f(x[base / 4u + c])); } a = max(max(a4.x, a4.y), max(a4.z, a4.w));"
    : v.kind === "sum"
      ? "for (var c = 0u; c < P.cols; c++) { a += f32(x[base + c]); }"
      : "for (var c = 0u; c < P.cols; c++) { a = max(a, f32(x[base + c])); }";
  return `${v.dtype === "f16" ? "enable f16;" : ""}
${declareBindings(
  [
    { name: "x", type: v.vec ? `vec4<${ty}>` : ty, access: "read" },
    { name: "out", type: ty, access: "read_write" },
  ],
  REDUCE_COLS_FIELDS,
)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.cols;
  var a: f32 = ${init(v.kind)};
  ${body}
  out[idx] = ${ty}(a * P.scale);
}`;
});
