/**
 * LayerNorm over the last axis (one invocation per row; per-row mean and 1/σ saved for backward), its
 * input gradient per row, and the weight/bias gradients per column in two passes (chunks of
 * LN_PARAM_CHUNK rows, then a sum over the chunks). `vec`: d % 4 == 0, rows are read as vec4.
 */
import { defineKernel } from "./kernel.js";
import { declareBindings, main1D } from "./wgsl.js";

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

const hsum = (vec: boolean) => (vec ? (e: string) => `dot(${e}, vec4f(1.0))` : (e: string) => e);

export interface LayerNormVariant {
  weight: boolean;
  bias: boolean;
  vec: boolean;
}

export const layerNormKernel = defineKernel("layer_norm", ({ weight: w, bias: b, vec }: LayerNormVariant) => {
  const V = vec ? "vec4f" : "f32";
  const h = hsum(vec);
  return `${declareBindings(
    [
      { name: "x", type: V, access: "read" },
      ...(w ? [{ name: "w", type: V, access: "read" as const }] : []),
      ...(b ? [{ name: "b", type: V, access: "read" as const }] : []),
      { name: "y", type: V, access: "read_write" },
      { name: "st", type: "f32", access: "read_write" },
    ],
    LN_FIELDS,
  )}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let n = P.d${vec ? " / 4u" : ""};
  let base = idx * n;
  var s = ${V}(0.0);
  for (var j = 0u; j < n; j++) { s += x[base + j]; }
  let mean = ${h("s")} / f32(P.d);
  var q = ${V}(0.0);
  for (var j = 0u; j < n; j++) { let c = x[base + j] - mean; q += c * c; }
  let rstd = inverseSqrt(${h("q")} / f32(P.d) + P.eps);
  for (var j = 0u; j < n; j++) {
    y[base + j] = (x[base + j] - mean) * rstd${w ? " * w[j]" : ""}${b ? " + b[j]" : ""};
  }
  st[idx * 2u] = mean;
  st[idx * 2u + 1u] = rstd;
}`;
});

export interface LayerNormBackwardVariant {
  weight: boolean;
  vec: boolean;
}

export const layerNormBackwardKernel = defineKernel(
  "layer_norm_backward",
  ({ weight: w, vec }: LayerNormBackwardVariant) => {
    const V = vec ? "vec4f" : "f32";
    const h = hsum(vec);
    return `${declareBindings(
      [
        { name: "x", type: V, access: "read" },
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
    a1 += gw; a2 += gw * (x[base + j] - mean) * rstd;
  }
  let s1 = ${h("a1")} / f32(P.d); let s2 = ${h("a2")} / f32(P.d);
  for (var j = 0u; j < n; j++) {
    let gw = g[base + j]${w ? " * w[j]" : ""};
    dx[base + j] = rstd * (gw - s1 - (x[base + j] - mean) * rstd * s2);
  }
}`;
  },
);

export interface LayerNormParamsVariant {
  vec: boolean;
}

/** Partial dγ, dβ of one chunk of rows for one column group: part[idx] and part[groups·chunks + idx]. */
export const layerNormParamsKernel = defineKernel(
  "layer_norm_backward_params",
  ({ vec }: LayerNormParamsVariant) => {
    const V = vec ? "vec4f" : "f32";
    return `${declareBindings(
      [
        { name: "x", type: V, access: "read" },
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
    sw += gv * (x[r * P.groups + c] - st[r * 2u]) * st[r * 2u + 1u];
    sb += gv;
  }
  part[idx] = sw;
  part[P.groups * P.chunks + idx] = sb;
}`;
  },
);

/** dγ, dβ: the chunks' partial sums added up. */
export const layerNormParamsFinalKernel = defineKernel(
  "layer_norm_backward_params_final",
  ({ vec }: LayerNormParamsVariant) => {
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
