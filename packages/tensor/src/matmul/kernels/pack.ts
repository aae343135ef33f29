/**
 * Packs a matmul operand into the texture kernel's "row" layout (./texture.ts): rows of ceil(cols/4)
 * rgba32float texels, zero-padded, from any source layout (strides are uniforms), shape or alignment.
 */
import { defineKernel } from "../../kernels/kernel.js";
import { main1D } from "../../kernels/wgsl.js";
import { TEX_WIDTH, TEX_WIDTH_LOG2 } from "./texture.js";

export const PACK_FIELDS = [
  ["total", "u32"],
  ["c4", "u32"],
  ["rows", "u32"],
  ["cols", "u32"],
  ["rs", "u32"],
  ["cs", "u32"],
  ["bs", "u32"],
] as const;

export interface PackVariant {
  /** Element type of the source buffer. */
  srcType: "f32" | "f16";
}

export const packOperandKernel = defineKernel(
  "matmul_pack",
  (v: PackVariant) => `${v.srcType === "f16" ? "enable f16;" : ""}
struct Params { ${PACK_FIELDS.map(([n, t]) => `${n}: ${t},`).join(" ")} }
@group(0) @binding(0) var<storage, read> S: array<${v.srcType}>;
@group(0) @binding(1) var T: texture_storage_2d<rgba32float, write>;
@group(0) @binding(2) var<uniform> P: Params;
${main1D()}
  if (idx >= P.total) { return; }
  let c4 = idx % P.c4;
  let r = idx / P.c4;
  let base = (r / P.rows) * P.bs + (r % P.rows) * P.rs;
  var v = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) {
    let c = c4 * 4u + e;
    if (c < P.cols) { v[e] = f32(S[base + c * P.cs]); }
  }
  textureStore(T, vec2u(idx & ${TEX_WIDTH - 1}u, idx >> ${TEX_WIDTH_LOG2}u), v);
}`,
);
