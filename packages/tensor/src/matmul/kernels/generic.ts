import { defineKernel } from "../../kernels/kernel.js";
/**
 * Portable batched matmul: each invocation computes a 4×4 block of C in registers from bounds-checked
 * storage loads, an 8×8 workgroup covers a 32×32 tile. Sizes are uniforms, so every shape shares one
 * pipeline per (transA, transB, epilogue, dtype). Fast per-adapter kernels live beside this one and fall
 * back to it for shapes they do not cover.
 */
import { declareBindings } from "../../kernels/wgsl.js";
import { type EpilogueSpec, epilogueBindings, epilogueWGSL } from "./epilogue.js";

export interface MatmulVariant {
  transA: boolean;
  transB: boolean;
  /** Input element type. */
  dtype: "f32" | "f16";
  epilogue: EpilogueSpec;
}

export const MATMUL_FIELDS = [
  ["M", "u32"],
  ["N", "u32"],
  ["K", "u32"],
  ["sa", "u32"],
  ["sb", "u32"],
  ["sc", "u32"],
  ["alpha", "f32"],
] as const;

export const genericMatmulKernel = defineKernel("matmul_generic", (v: MatmulVariant): string => {
  const t = v.dtype;
  const e = v.epilogue;
  const aIdx = v.transA ? "aBase + k * P.M + m" : "aBase + m * P.K + k";
  const bIdx = v.transB ? "bBase + n * P.K + k" : "bBase + k * P.N + n";
  const bindings = [
    { name: "A", type: t, access: "read" as const },
    { name: "B", type: t, access: "read" as const },
    ...epilogueBindings(e),
  ];
  return `${t === "f16" || e.dtype === "f16" ? "enable f16;" : ""}
${declareBindings(bindings, MATMUL_FIELDS)}
${epilogueWGSL(e)}
fn loadA(aBase: u32, m: u32, k: u32) -> f32 {
  if (m >= P.M || k >= P.K) { return 0.0; }
  return f32(A[${aIdx}]);
}
fn loadB(bBase: u32, k: u32, n: u32) -> f32 {
  if (k >= P.K || n >= P.N) { return 0.0; }
  return f32(B[${bIdx}]);
}
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  let batch = gid.z;
  if (row0 >= P.M || col0 >= P.N) { return; }
  let aBase = batch * P.sa;
  let bBase = batch * P.sb;
  var acc: array<vec4f, 4>;
  for (var k = 0u; k < P.K; k++) {
    let b = vec4f(loadB(bBase, k, col0), loadB(bBase, k, col0 + 1u), loadB(bBase, k, col0 + 2u), loadB(bBase, k, col0 + 3u));
    for (var i = 0u; i < 4u; i++) {
      acc[i] = acc[i] + loadA(aBase, row0 + i, k) * b;
    }
  }
  let cBase = batch * P.sc;
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + i;
    if (m >= P.M) { break; }
    store4(cBase, m, col0, acc[i]);
  }
}`;
});
