import { defineKernel } from "../../kernels/kernel.js";
/**
 * Classic shared-memory tiled matmul for real GPUs: a 16×16 workgroup computes a 64×64 tile of C, each
 * invocation a 4×4 block in registers; A and B tiles of depth TK are staged through workgroup memory
 * (transposed operands are handled while staging, so no transposing copy is ever made). On lavapipe this
 * design is the slowest there is (~1 GFLOP/s: workgroup memory loads are per-lane scalar loops), which
 * is why the adapter table picks the texture kernel there and this one on GPUs.
 */
import { declareBindings } from "../../kernels/wgsl.js";
import { type EpilogueSpec, epilogueBindings, epilogueWGSL } from "./epilogue.js";

export interface TiledMatmulVariant {
  transA: boolean;
  transB: boolean;
  /** Input element type (accumulation is always f32). */
  inType: "f32" | "f16";
  /** Depth of a staged tile (16 or 32). */
  tk: number;
  epilogue: EpilogueSpec;
}

export const TILED_MATMUL_FIELDS = [
  ["M", "u32"],
  ["N", "u32"],
  ["K", "u32"],
  ["sa", "u32"],
  ["sb", "u32"],
  ["cBatch", "u32"],
  ["alpha", "f32"],
] as const;

export const TILE = 64;

export const tiledMatmulKernel = defineKernel("matmul_tiled", (v: TiledMatmulVariant): string => {
  const TK = v.tk;
  const e = v.epilogue;
  const per = (TILE * TK) / 256; // elements each invocation stages per operand per tile
  const aIdx = v.transA ? "aBase + k * P.M + m" : "aBase + m * P.K + k";
  const bIdx = v.transB ? "bBase + n * P.K + k" : "bBase + k * P.N + n";
  // Map the staging index so that consecutive invocations read consecutive addresses (coalesced):
  // along k when k is the contiguous dimension of the operand, along m/n otherwise.
  const stageA = v.transA ? "let mm = s % 64u; let kk = s / 64u;" : "let kk = s % TK; let mm = s / TK;";
  const stageB = v.transB ? "let kk = s % TK; let nn = s / TK;" : "let nn = s % 64u; let kk = s / 64u;";
  const f16 = v.inType === "f16" || e.dtype === "f16";
  return `${f16 ? "enable f16;" : ""}
const TK = ${TK}u;
${declareBindings([
  { name: "A", type: v.inType, access: "read" },
  { name: "B", type: v.inType, access: "read" },
  ...epilogueBindings(e),
])}
struct Params { ${TILED_MATMUL_FIELDS.map(([n, t]) => `${n}: ${t},`).join(" ")} }
@group(0) @binding(${2 + epilogueBindings(e).length}) var<uniform> P: Params;
var<workgroup> As: array<vec4f, ${(TK * TILE) / 4}>;
var<workgroup> Bs: array<vec4f, ${(TK * TILE) / 4}>;
${epilogueWGSL(e)}
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let m0 = wg.y * 64u;
  let n0 = wg.x * 64u;
  let batch = wg.z;
  let aBase = batch * P.sa;
  let bBase = batch * P.sb;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < P.K; k0 += TK) {
    for (var i = 0u; i < ${per}u; i++) {
      let s = tid + i * 256u;
      ${stageA}
      let m = m0 + mm; let k = k0 + kk;
      var va = 0.0;
      if (m < P.M && k < P.K) { va = f32(A[${aIdx}]); }
      As[kk * 16u + mm / 4u][mm % 4u] = va;
    }
    for (var i = 0u; i < ${per}u; i++) {
      let s = tid + i * 256u;
      ${stageB}
      let n = n0 + nn; let k = k0 + kk;
      var vb = 0.0;
      if (n < P.N && k < P.K) { vb = f32(B[${bIdx}]); }
      Bs[kk * 16u + nn / 4u][nn % 4u] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let a = As[kk * 16u + lid.y];
      let b = Bs[kk * 16u + lid.x];
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  let n = n0 + lid.x * 4u;
  if (n >= P.N) { return; }
  let cBase = batch * P.cBatch;
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    if (m < P.M) { store4(cBase, m, n, acc[i]); }
  }
}`;
});
