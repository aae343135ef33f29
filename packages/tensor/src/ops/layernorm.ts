/**
 * Fused LayerNorm over the last axis. Forward saves per-row mean and 1/σ (not x̂) so backward needs no
 * recomputation of the statistics; backward is two kernels: dx per row, dγ/dβ per column.
 *
 * Mixed precision as Apex's MixedFusedLayerNorm (NeMo O2): x may be f16/bf16 and is kept for backward in
 * that type; statistics, γ, β and the arithmetic stay f32; y comes out in the autocast type under
 * autocast (it feeds a half matmul, which would round it anyway), else in x's type. Gradients are f32.
 */
import { autocastDtype } from "../autocast.js";
import { needsGrad, noGrad, record } from "../autograd.js";
import type { DType } from "../dtype.js";
import { ShapeError } from "../errors.js";
import { requireFloat, sameDevice } from "../checks.js";
import { BF16_HELPERS, declareBindings, grid1D, main1D } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";
import { cast } from "./cast.js";

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

const FIELDS = [
  ["rows", "u32"],
  ["d", "u32"],
  ["eps", "f32"],
] as const;

export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const device = sameDevice("layer_norm", x, ...(weight ? [weight] : []), ...(bias ? [bias] : []));
  requireFloat("layer_norm", x, ["f32", "f16", "bf16"]);
  const d = x.shape[x.rank - 1]!;
  const outDtype: DType = autocastDtype() ?? x.dtype;
  // vec4 loads when d % 4 == 0 (every ViT width): a quarter of the per-lane load loops on CPU adapters.
  const vec = d % 4 === 0;
  if (!vec && (x.dtype === "bf16" || outDtype === "bf16")) {
    // Packed bf16 rows need whole vec4s: an odd width goes through f32 (exact widening, one rounding).
    const y32 = layerNorm(x.dtype === "bf16" ? cast(x, "f32") : x, weight, bias, eps);
    return outDtype === "bf16" ? cast(y32, "bf16") : y32;
  }
  for (const [n, t] of [
    ["weight", weight],
    ["bias", bias],
  ] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== d || t.dtype !== "f32")) {
      throw new ShapeError(
        `layer_norm: ${n} ${t.describe()} must be [${d}] f32 to normalise ${x.describe()} over its last axis.`,
      );
    }
  }
  const rows = x.numel / d;
  const y = new Tensor(device, x.shape, outDtype);
  const stats = new Tensor(device, [rows, 2], "f32");
  const w = weight ?? null;
  const b = bias ?? null;
  const V = vec ? "vec4f" : "f32";
  const X = access(x.dtype, vec);
  const Y = access(outDtype, vec);
  const vbinds = [
    { name: "x", type: X.type, access: "read" as const },
    ...(w ? [{ name: "w", type: V, access: "read" as const }] : []),
    ...(b ? [{ name: "b", type: V, access: "read" as const }] : []),
    { name: "y", type: Y.type, access: "read_write" as const },
    { name: "st", type: "f32", access: "read_write" as const },
  ];
  const hsum = vec ? (e: string) => `dot(${e}, vec4f(1.0))` : (e: string) => e;
  device.run({
    name: "layer_norm",
    key: `layer_norm|${!!w}|${!!b}|${vec}|${x.dtype}|${outDtype}`,
    code: () => `${prelude(x.dtype, outDtype)}
${declareBindings(vbinds, FIELDS)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let n = P.d${vec ? " / 4u" : ""};
  let base = idx * n;
  var s = ${V}(0.0);
  for (var j = 0u; j < n; j++) { s += ${X.load("x[base + j]")}; }
  let mean = ${hsum("s")} / f32(P.d);
  var q = ${V}(0.0);
  for (var j = 0u; j < n; j++) { let c = ${X.load("x[base + j]")} - mean; q += c * c; }
  let rstd = inverseSqrt(${hsum("q")} / f32(P.d) + P.eps);
  for (var j = 0u; j < n; j++) {
    y[base + j] = ${Y.store(`(${X.load("x[base + j]")} - mean) * rstd${w ? " * w[j]" : ""}${b ? " + b[j]" : ""}`)};
  }
  st[idx * 2u] = mean;
  st[idx * 2u + 1u] = rstd;
}`,
    buffers: [x.buffer, ...(w ? [w.buffer] : []), ...(b ? [b.buffer] : []), y.buffer, stats.buffer],
    uniforms: { fields: FIELDS, values: [rows, d, eps] },
    workgroups: grid1D(rows, 64),
  });
  if (needsGrad(x, w, b)) {
    record(y, {
      name: "layer_norm",
      inputs: [x, w, b],
      backward: (g16) => {
        const g = g16.dtype === "f32" ? g16 : noGrad(() => cast(g16, "f32"));
        const dx = new Tensor(device, x.shape, "f32");
        device.run({
          name: "layer_norm_backward",
          key: `layer_norm_backward|${!!w}|${vec}|${x.dtype}`,
          code: () => `${prelude(x.dtype)}
${declareBindings(
  [
    { name: "x", type: X.type, access: "read" },
    { name: "g", type: V, access: "read" },
    { name: "st", type: "f32", access: "read" },
    ...(w ? [{ name: "w", type: V, access: "read" as const }] : []),
    { name: "dx", type: V, access: "read_write" },
  ],
  FIELDS,
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
  let s1 = ${hsum("a1")} / f32(P.d); let s2 = ${hsum("a2")} / f32(P.d);
  for (var j = 0u; j < n; j++) {
    let gw = g[base + j]${w ? " * w[j]" : ""};
    dx[base + j] = rstd * (gw - s1 - (${X.load("x[base + j]")} - mean) * rstd * s2);
  }
}`,
          buffers: [x.buffer, g.buffer, stats.buffer, ...(w ? [w.buffer] : []), dx.buffer],
          uniforms: { fields: FIELDS, values: [rows, d, eps] },
          workgroups: grid1D(rows, 64),
        });
        let dw: Tensor | null = null;
        let db: Tensor | null = null;
        if (w?.requiresGrad || b?.requiresGrad) {
          dw = new Tensor(device, [d], "f32");
          db = new Tensor(device, [d], "f32");
          layerNormParamGrads(x, g, stats, dw, db, rows, d, vec);
          if (!w?.requiresGrad) {
            dw.dispose();
            dw = null;
          }
          if (!b?.requiresGrad) {
            db.dispose();
            db = null;
          }
        }
        stats.dispose();
        if (g !== g16) g.dispose();
        return [dx, dw, db];
      },
    });
  } else {
    stats.dispose();
  }
  return y;
}

const PARAM_CHUNK = 64;

/**
 * dγ[j] = Σ_r g·x̂, dβ[j] = Σ_r g over all rows. One invocation per (chunk of PARAM_CHUNK rows, column
 * group) writes partial sums, a second pass adds the chunks: a 128-wide layer over 1000+ rows would
 * otherwise be 32-128 invocations each walking every row.
 */
function layerNormParamGrads(
  x: Tensor,
  g: Tensor,
  stats: Tensor,
  dw: Tensor,
  db: Tensor,
  rows: number,
  d: number,
  vec: boolean,
): void {
  const device = x.device;
  const V = vec ? "vec4f" : "f32";
  const X = access(x.dtype, vec);
  const groups = vec ? d / 4 : d;
  const chunks = Math.ceil(rows / PARAM_CHUNK);
  const fields = [
    ["rows", "u32"],
    ["groups", "u32"],
    ["chunks", "u32"],
  ] as const;
  const values = [rows, groups, chunks];
  const partial = new Tensor(device, [2, chunks, groups * (vec ? 4 : 1)], "f32");
  device.run({
    name: "layer_norm_backward_params",
    key: `layer_norm_backward_params|${vec}|${x.dtype}`,
    code: () => `${prelude(x.dtype)}
${declareBindings(
  [
    { name: "x", type: X.type, access: "read" },
    { name: "g", type: V, access: "read" },
    { name: "st", type: "f32", access: "read" },
    { name: "part", type: V, access: "read_write" },
  ],
  fields,
)}
${main1D(64)}
  if (idx >= P.groups * P.chunks) { return; }
  let c = idx % P.groups;
  let r0 = (idx / P.groups) * ${PARAM_CHUNK}u;
  let r1 = min(r0 + ${PARAM_CHUNK}u, P.rows);
  var sw = ${V}(0.0); var sb = ${V}(0.0);
  for (var r = r0; r < r1; r++) {
    let gv = g[r * P.groups + c];
    sw += gv * (${X.load("x[r * P.groups + c]")} - st[r * 2u]) * st[r * 2u + 1u];
    sb += gv;
  }
  part[idx] = sw;
  part[P.groups * P.chunks + idx] = sb;
}`,
    buffers: [x.buffer, g.buffer, stats.buffer, partial.buffer],
    uniforms: { fields, values },
    workgroups: grid1D(groups * chunks, 64),
  });
  device.run({
    name: "layer_norm_backward_params",
    key: `layer_norm_backward_params_final|${vec}`,
    code: () => `${declareBindings(
      [
        { name: "part", type: V, access: "read" },
        { name: "dw", type: V, access: "read_write" },
        { name: "db", type: V, access: "read_write" },
      ],
      fields,
    )}
${main1D(64)}
  if (idx >= P.groups) { return; }
  var sw = ${V}(0.0); var sb = ${V}(0.0);
  for (var k = 0u; k < P.chunks; k++) {
    sw += part[k * P.groups + idx];
    sb += part[(P.chunks + k) * P.groups + idx];
  }
  dw[idx] = sw; db[idx] = sb;
}`,
    buffers: [partial.buffer, dw.buffer, db.buffer],
    uniforms: { fields, values },
    workgroups: grid1D(groups, 64),
  });
  partial.dispose();
}
