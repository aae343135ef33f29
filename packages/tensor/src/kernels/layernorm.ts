/**
 * LayerNorm over the last axis (one invocation per row; per-row mean and 1/σ saved for backward), its
 * input gradient per row, and the weight/bias gradients per column in two passes (chunks of
 * LN_PARAM_CHUNK rows, then a sum over the chunks). `vec`: d % 4 == 0, rows are read as vec4.
 * x and y may be stored in f16 or bf16 (bf16 only with `vec`: a vec4 is two whole u32 words); the
 * arithmetic, the statistics, γ, β and every gradient are f32.
 */
import type { DType } from "../dtype.js";
import { defineKernel } from "./kernel.js";
import { BF16_HELPERS, declareBindings, main1D } from "./wgsl.js";

export const LN_FIELDS = [
  ["rows", "u32"],
  ["d", "u32"],
  ["eps", "f32"],
] as const;

export const LN_PARAM_FIELDS = [
  ["rows", "u32"],
  ["groups", "u32"],
  ["chunks", "u32"],
] as const;

export const LN_PARAM_CHUNK = 64;

/** How a kernel binds, reads (as f32 / vec4f) and writes a tensor of `dtype` (bf16: only with vec). */
function access(dtype: DType, vec: boolean) {
  const V = vec ? "vec4f" : "f32";
  switch (dtype) {
    case "f16":
      return {
        type: vec ? "vec4<f16>" : "f16",
        load: (e: string) => `${V}(${e})`,
        store: (v: string) => `${vec ? "vec4<f16>" : "f16"}(${v})`,
      };
    case "bf16":
      return {
        type: "vec2<u32>",
        load: (e: string) => `bf16x4(${e})`,
        store: (v: string) => `pack_bf16x4(${v})`,
      };
    default:
      return { type: V, load: (e: string) => e, store: (v: string) => v };
  }
}

const BF16X4 = `${BF16_HELPERS}
fn bf16x4(w: vec2<u32>) -> vec4f {
  return vec4f(bf16_load(w.x, 0u), bf16_load(w.x, 1u), bf16_load(w.y, 0u), bf16_load(w.y, 1u));
}
fn pack_bf16x4(v: vec4f) -> vec2<u32> {
  return vec2<u32>(f32_to_bf16_bits(v.x) | (f32_to_bf16_bits(v.y) << 16u), f32_to_bf16_bits(v.z) | (f32_to_bf16_bits(v.w) << 16u));
}`;

function prelude(...dtypes: DType[]): string {
  return `${dtypes.includes("f16") ? "enable f16;" : ""}\n${dtypes.includes("bf16") ? BF16X4 : ""}`;
}

const hsum = (vec: boolean) => (vec ? (e: string) => `dot(${e}, vec4f(1.0))` : (e: string) => e);

export interface LayerNormVariant {
  weight: boolean;
  bias: boolean;
  vec: boolean;
  /** Storage of the input and of the output. */
  x: DType;
  y: DType;
}

export const layerNormKernel = defineKernel("layer_norm", (v: LayerNormVariant) => {
  const { weight: w, bias: b, vec } = v;
  const V = vec ? "vec4f" : "f32";
  const X = access(v.x, vec);
  const Y = access(v.y, vec);
  const h = hsum(vec);
  return `${prelude(v.x, v.y)}
${declareBindings(
  [
    { name: "x", type: X.type, access: "read" },
    ...(w ? [{ name: "w", type: V, access: "read" as const }] : []),
    ...(b ? [{ name: "b", type: V, access: "read" as const }] : []),
    { name: "y", type: Y.type, access: "read_write" },
    { name: "st", type: "f32", access: "read_write" },
  ],
  LN_FIELDS,
)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let n = P.d${vec ? " / 4u" : ""};
  let base = idx * n;
  var s = ${V}(0.0);
  for (var j = 0u; j < n; j++) { s += ${X.load("x[base + j]")}; }
  let mean = ${h("s")} / f32(P.d);
  var q = ${V}(0.0);
  for (var j = 0u; j < n; j++) { let c = ${X.load("x[base + j]")} - mean; q += c * c; }
  let rstd = inverseSqrt(${h("q")} / f32(P.d) + P.eps);
  for (var j = 0u; j < n; j++) {
    y[base + j] = ${Y.store(`(${X.load("x[base + j]")} - mean) * rstd${w ? " * w[j]" : ""}${b ? " + b[j]" : ""}`)};
  }
  st[idx * 2u] = mean;
  st[idx * 2u + 1u] = rstd;
}`;
});

export interface LayerNormBackwardVariant {
  weight: boolean;
  vec: boolean;
  /** Storage of the saved input (the gradient g is f32). */
  x: DType;
}

export const layerNormBackwardKernel = defineKernel(
  "layer_norm_backward",
  ({ weight: w, vec, x }: LayerNormBackwardVariant) => {
    const V = vec ? "vec4f" : "f32";
    const X = access(x, vec);
    const h = hsum(vec);
    return `${prelude(x)}
${declareBindings(
  [
    { name: "x", type: X.type, access: "read" },
    { name: "g", type: V, access: "read" },
    { name: "st", type: "f32", access: "read" },
    ...(w ? [{ name: "w", type: V, access: "read" as const }] : []),
    { name: "dx", type: V, access: "read_write" },
  ],
  LN_FIELDS,
)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let n = P.d${vec ? " / 4u" : ""};
  let base = idx * n;
  let mean = st[idx * 2u]; let rstd = st[idx * 2u + 1u];
  var a1 = ${V}(0.0); var a2 = ${V}(0.0);
  for (var j = 0u; j < n; j++) {
    let gw = g[base + j]${w ? " * w[j]" : ""};
    a1 += gw; a2 += gw * (${X.load("x[base + j]")} - mean) * rstd;
  }
  let s1 = ${h("a1")} / f32(P.d); let s2 = ${h("a2")} / f32(P.d);
  for (var j = 0u; j < n; j++) {
    let gw = g[base + j]${w ? " * w[j]" : ""};
    dx[base + j] = rstd * (gw - s1 - (${X.load("x[base + j]")} - mean) * rstd * s2);
  }
}`;
  },
);

export interface LayerNormParamsVariant {
  vec: boolean;
  /** Storage of the saved input (the gradient g is f32). */
  x: DType;
}

/** Partial dγ, dβ of one chunk of rows for one column group: part[idx] and part[groups·chunks + idx]. */
export const layerNormParamsKernel = defineKernel(
  "layer_norm_backward_params",
  ({ vec, x }: LayerNormParamsVariant) => {
    const V = vec ? "vec4f" : "f32";
    const X = access(x, vec);
    return `${prelude(x)}
${declareBindings(
  [
    { name: "x", type: X.type, access: "read" },
    { name: "g", type: V, access: "read" },
    { name: "st", type: "f32", access: "read" },
    { name: "part", type: V, access: "read_write" },
  ],
  LN_PARAM_FIELDS,
)}
${main1D(64)}
  if (idx >= P.groups * P.chunks) { return; }
  let c = idx % P.groups;
  let r0 = (idx / P.groups) * ${LN_PARAM_CHUNK}u;
  let r1 = min(r0 + ${LN_PARAM_CHUNK}u, P.rows);
  var sw = ${V}(0.0); var sb = ${V}(0.0);
  for (var r = r0; r < r1; r++) {
    let gv = g[r * P.groups + c];
    sw += gv * (${X.load("x[r * P.groups + c]")} - st[r * 2u]) * st[r * 2u + 1u];
    sb += gv;
  }
  part[idx] = sw;
  part[P.groups * P.chunks + idx] = sb;
}`;
  },
);

export interface LayerNormParamsFinalVariant {
  vec: boolean;
}

/** dγ, dβ: the chunks' partial sums added up. */
export const layerNormParamsFinalKernel = defineKernel(
  "layer_norm_backward_params_final",
  ({ vec }: LayerNormParamsFinalVariant) => {
    const V = vec ? "vec4f" : "f32";
    return `${declareBindings(
      [
        { name: "part", type: V, access: "read" },
        { name: "dw", type: V, access: "read_write" },
        { name: "db", type: V, access: "read_write" },
      ],
      LN_PARAM_FIELDS,
    )}
${main1D(64)}
  if (idx >= P.groups) { return; }
  var sw = ${V}(0.0); var sb = ${V}(0.0);
  for (var k = 0u; k < P.chunks; k++) {
    sw += part[k * P.groups + idx];
    sb += part[(P.chunks + k) * P.groups + idx];
  }
  dw[idx] = sw; db[idx] = sb;
}`;
  },
);
