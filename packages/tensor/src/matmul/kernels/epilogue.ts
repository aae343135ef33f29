/**
 * The fused epilogue every matmul kernel shares: C = act(alpha·acc + bias) + residual, optionally also
 * writing the pre-activation (alpha·acc + bias) that the activation's backward needs. Fusing saves a
 * full read+write of C per op (and one dispatch each) on every Linear layer of a transformer.
 *
 * Kernels hand the epilogue four consecutive columns n..n+3 of one row (`store4`). When N is a multiple
 * of 4 the output, bias, residual and pre-activation are bound as vec4 arrays and each call is one
 * vector store; otherwise the columns are stored one by one with bounds checks.
 */
import { MATH_WGSL } from "../../kernels/math.js";
import type { BindingDecl } from "../../kernels/wgsl.js";

export type MatmulActivation = "none" | "gelu" | "gelu_tanh" | "relu";

export interface EpilogueSpec {
  bias: boolean;
  activation: MatmulActivation;
  residual: boolean;
  /** Also write the pre-activation (for the activation's backward). Only with an activation. */
  savePre: boolean;
  /** Element type of C / bias / residual / pre-activation. */
  dtype: "f32" | "f16";
  /** N % 4 === 0 (and batch strides too): bind the outputs as vec4 arrays. */
  vec: boolean;
}

/** Storage bindings of the epilogue, in the order the op passes the buffers: bias, residual, C, pre. */
export function epilogueBindings(e: EpilogueSpec): BindingDecl[] {
  const el = e.vec ? `vec4<${e.dtype}>` : e.dtype;
  return [
    ...(e.bias ? [{ name: "bias", type: el, access: "read" as const }] : []),
    ...(e.residual ? [{ name: "res", type: el, access: "read" as const }] : []),
    { name: "C", type: el, access: "read_write" as const },
    ...(e.savePre ? [{ name: "pre", type: el, access: "read_write" as const }] : []),
  ];
}

function act(e: EpilogueSpec, x: string): string {
  switch (e.activation) {
    case "none":
      return x;
    case "gelu":
      return `gelu_erf(${x})`;
    case "gelu_tanh":
      return `gelu_tanh(${x})`;
    case "relu":
      return `max(${x}, 0.0)`;
  }
}

/**
 * WGSL for `fn store4(cBase: u32, m: u32, n: u32, acc: vec4f)` (element offset of the batch, row,
 * first of the four columns, raw accumulators). Needs `P.N` and `P.alpha` in the uniform block.
 */
export function epilogueWGSL(e: EpilogueSpec): string {
  const t = e.dtype;
  const math = e.activation === "none" || e.activation === "relu" ? "" : MATH_WGSL;
  if (e.vec) {
    const v4 = (x: string) =>
      `vec4f(${act(e, `${x}.x`)}, ${act(e, `${x}.y`)}, ${act(e, `${x}.z`)}, ${act(e, `${x}.w`)})`;
    return `${math}
fn store4(cBase: u32, m: u32, n: u32, acc: vec4f) {
  let i = (cBase + m * P.N + n) / 4u;
  var v = acc * P.alpha;
  ${e.bias ? "v = v + vec4f(bias[n / 4u]);" : ""}
  ${e.savePre ? `pre[i] = vec4<${t}>(v);` : ""}
  ${e.activation === "none" ? "" : `v = ${v4("v")};`}
  ${e.residual ? "v = v + vec4f(res[i]);" : ""}
  C[i] = vec4<${t}>(v);
}`;
  }
  return `${math}
fn store4(cBase: u32, m: u32, n: u32, acc: vec4f) {
  let i0 = cBase + m * P.N + n;
  for (var j = 0u; j < 4u; j++) {
    if (n + j < P.N) {
      var v = acc[j] * P.alpha;
      ${e.bias ? "v = v + f32(bias[n + j]);" : ""}
      ${e.savePre ? `pre[i0 + j] = ${t}(v);` : ""}
      ${e.activation === "none" ? "" : `v = ${act(e, "v")};`}
      ${e.residual ? "v = v + f32(res[i0 + j]);" : ""}
      C[i0 + j] = ${t}(v);
    }
  }
}`;
}
