/**
 * The element-wise kernel template: `expr` over up to three broadcast inputs (f32 values a, b, c and the
 * scalar s), one element per invocation, or four vec4 per invocation (the vec4 form; see
 * ops/elementwise-kernel.ts for when it is taken). Shapes and broadcast strides are uniforms; `rank` is
 * null for the plain case (every input has the output's shape), where no index arithmetic is emitted.
 * bf16 (u32 words of two) is read and written by the scalar form only, an invocation per output word.
 */
import type { DType } from "../dtype.js";
import { defineKernel } from "./kernel.js";
import { MATH_WGSL } from "./math.js";
import { BF16_HELPERS, type UniformType, declareBindings, main1D, wgslType } from "./wgsl.js";

const NAMES = ["a", "b", "c"];

/**
 * Uniform fields: n (elements, or vec4s) and s, `extra` (the vec4 form's invocation count), then for a
 * broadcast (rank ≠ null) the output sizes o_d and each input's strides s_k_d.
 */
export function elementwiseFields(
  head: ReadonlyArray<readonly [string, UniformType]>,
  rank: number | null,
  inputs: number,
): Array<[string, UniformType]> {
  const fields: Array<[string, UniformType]> = head.map(([n, t]) => [n, t]);
  if (rank === null) return fields;
  for (let d = 0; d < rank; d++) fields.push([`o${d}`, "u32"]);
  for (let k = 0; k < inputs; k++) for (let d = 0; d < rank; d++) fields.push([`s${k}_${d}`, "u32"]);
  return fields;
}

export const EW_HEAD = [
  ["n", "u32"],
  ["s", "f32"],
] as const;

export const EW4_HEAD = [
  ["n4", "u32"],
  ["s", "f32"],
  ["inv", "u32"],
] as const;

/** WGSL decoding flat index `i` into each input's offset off_k through the broadcast uniforms. */
function decode(rank: number, inputs: number, i: string, indent: string): string {
  let index = `${Array.from({ length: inputs }, (_, k) => `var off${k} = 0u;`).join(" ")}\n${indent}var rem = ${i};\n`;
  for (let d = rank - 1; d >= 0; d--) {
    const adds = Array.from({ length: inputs }, (_, k) => `off${k} += c * P.s${k}_${d};`).join(" ");
    index += `${indent}{ let c = rem % P.o${d}; rem = rem / P.o${d}; ${adds} }\n`;
  }
  return index;
}

export interface ElementwiseVariant {
  expr: string;
  inputs: DType[];
  out: DType;
  /** Broadcast rank, or null when every input has the output's shape. */
  rank: number | null;
}

export const elementwiseKernel = defineKernel("elementwise", (v: ElementwiseVariant) => {
  const f16 = v.inputs.includes("f16") || v.out === "f16";
  // bf16 is packed two per u32 word: each invocation then writes one whole word (two elements).
  const load = (k: number, at: string) =>
    v.inputs[k] === "bf16" ? `bf16_load(in${k}[(${at}) >> 1u], ${at})` : `f32(in${k}[${at}])`;
  const loads = v.inputs.map((_, k) => `let ${NAMES[k]} = ${load(k, v.rank === null ? "i" : `off${k}`)};`);
  const store =
    v.out === "bf16"
      ? `let i0 = idx * 2u;
  if (i0 >= P.n) { return; }
  var hi = 0u;
  if (i0 + 1u < P.n) { hi = f32_to_bf16_bits(value(i0 + 1u)); }
  out[idx] = f32_to_bf16_bits(value(i0)) | (hi << 16u);`
      : `if (idx >= P.n) { return; }
  out[idx] = ${wgslType(v.out)}(value(idx));`;
  const bf16 = v.out === "bf16" || v.inputs.includes("bf16");
  return `${f16 ? "enable f16;" : ""}
${declareBindings(
  [
    ...v.inputs.map((t, k) => ({ name: `in${k}`, type: wgslType(t), access: "read" as const })),
    { name: "out", type: wgslType(v.out), access: "read_write" },
  ],
  elementwiseFields(EW_HEAD, v.rank, v.inputs.length),
)}
${MATH_WGSL}
${bf16 ? BF16_HELPERS : ""}
fn value(i: u32) -> f32 {
  let s = P.s;
  ${v.rank === null ? "" : decode(v.rank, v.inputs.length, "i", "  ")}
  ${loads.join("\n  ")}
  return ${v.expr};
}
${main1D()}
  ${store}
}`;
});

export const VEC_PER_INVOCATION = 4;
export const VEC_WG = 64;

export interface Elementwise4Variant {
  expr: string;
  /** Each input's dtype, and whether it spans the last dimension (vec4 loads) or is broadcast along it. */
  inputs: Array<{ dtype: DType; spans: boolean }>;
  out: DType;
  rank: number | null;
}

export const elementwise4Kernel = defineKernel("elementwise4", (v: Elementwise4Variant) => {
  const n = v.inputs.length;
  const f16 = v.inputs.some((t) => t.dtype === "f16") || v.out === "f16";
  const to = wgslType(v.out);
  const loads = v.inputs.map((t, k) => {
    const at = v.rank === null ? "i" : `off${k}`;
    return t.spans ? `let v${k} = vec4f(in${k}[${at}]);` : `let v${k} = vec4f(f32(in${k}[${at}]));`;
  });
  const arg = (k: number, c: string) => (k < n ? `v${k}.${c}` : "0.0");
  const comp = (c: string) => `op(${arg(0, c)}, ${arg(1, c)}, ${arg(2, c)}, P.s)`;
  return `${f16 ? "enable f16;" : ""}
${declareBindings(
  [
    ...v.inputs.map((t, k) => ({
      name: `in${k}`,
      type: t.spans ? `vec4<${wgslType(t.dtype)}>` : wgslType(t.dtype),
      access: "read" as const,
    })),
    { name: "out", type: `vec4<${to}>`, access: "read_write" },
  ],
  elementwiseFields(EW4_HEAD, v.rank, n),
)}
${MATH_WGSL}
fn op(${NAMES.map((x) => `${x}: f32`).join(", ")}, s: f32) -> f32 { return ${v.expr}; }
@compute @workgroup_size(${VEC_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * ${VEC_WG}u;
  for (var j = 0u; j < ${VEC_PER_INVOCATION}u; j++) {
    let i = idx + j * P.inv;
    if (i < P.n4) {
      ${v.rank === null ? "" : decode(v.rank, n, "i", "      ")}
      ${loads.join("\n      ")}
      out[i] = vec4<${to}>(vec4f(${comp("x")}, ${comp("y")}, ${comp("z")}, ${comp("w")}));
    }
  }
}`;
});
