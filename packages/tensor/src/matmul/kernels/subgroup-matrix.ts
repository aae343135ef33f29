import { defineKernel } from "../../kernels/kernel.js";
/**
 * Matmul on subgroup matrices (WGSL `chromium_experimental_subgroup_matrix`: Vulkan cooperative matrices
 * on NVIDIA with Dawn's `allow_unsafe_apis` toggle, simdgroup matrices on Apple). One workgroup is one
 * subgroup; it computes TM×TN blocks of the adapter's M×N result shape, loading the left/right blocks
 * straight from the storage buffers (`col_major` loads read transposed operands in place), accumulating
 * in the config's result type, then staging the tile through workgroup memory so the shared f32
 * epilogue (bias, activation, residual) applies.
 *
 * UNTESTED HERE: no adapter this project's CI or development machine has (lavapipe) exposes the feature.
 * It is written from the Dawn/Tint definitions (subgroup_matrix_left<T, C, R>: C columns, R rows;
 * loads take an element offset and a row/column stride) and is used only after `probeSubgroupMatrix`
 * (matmul/subgroup.ts) has compiled it and checked one product against the tiled kernel on the device
 * itself; until then, or if that fails, the tiled kernel runs. Two spellings of the load/store builtins
 * exist across Dawn versions (a `row_major`/`col_major` template argument, or a bool argument); the
 * probe tries both.
 */
import { declareBindings } from "../../kernels/wgsl.js";
import { type EpilogueSpec, epilogueBindings, epilogueWGSL } from "./epilogue.js";

export interface SubgroupMatrixShape {
  /** Input component type (f16 or f32) and result (accumulator) type. */
  component: "f16" | "f32";
  result: "f16" | "f32";
  M: number;
  N: number;
  K: number;
}

export type SubgroupMatrixSyntax = "template" | "bool";

export interface SubgroupMatrixVariant {
  transA: boolean;
  transB: boolean;
  shape: SubgroupMatrixShape;
  /** Blocks per subgroup along m and n. */
  tm: number;
  tn: number;
  /** Subgroup size (= workgroup size). */
  sg: number;
  syntax: SubgroupMatrixSyntax;
  epilogue: EpilogueSpec;
}

export const SGMAT_FIELDS = [
  ["M", "u32"],
  ["N", "u32"],
  ["K", "u32"],
  ["sa", "u32"],
  ["sb", "u32"],
  ["cBatch", "u32"],
  ["alpha", "f32"],
] as const;

export const subgroupMatrixKernel = defineKernel(
  "matmul_subgroup_matrix",
  (v: SubgroupMatrixVariant): string => {
    const { shape: s, tm, tn, sg, epilogue: e } = v;
    const T = s.component;
    const R = s.result;
    const leftT = `subgroup_matrix_left<${T}, ${s.K}, ${s.M}>`;
    const rightT = `subgroup_matrix_right<${T}, ${s.N}, ${s.K}>`;
    const resT = `subgroup_matrix_result<${R}, ${s.N}, ${s.M}>`;
    const load = (ty: string, buf: string, off: string, colMajor: boolean, stride: string) =>
      v.syntax === "template"
        ? `subgroupMatrixLoad<${ty}, ${colMajor ? "col_major" : "row_major"}>(&${buf}, ${off}, ${stride})`
        : `subgroupMatrixLoad<${ty}>(&${buf}, ${off}, ${colMajor}, ${stride})`;
    const store = (buf: string, off: string, val: string, stride: string) =>
      v.syntax === "template"
        ? `subgroupMatrixStore<row_major>(&${buf}, ${off}, ${val}, ${stride})`
        : `subgroupMatrixStore(&${buf}, ${off}, ${val}, false, ${stride})`;
    const tileM = tm * s.M;
    const tileN = tn * s.N;
    // Element offset of left block (m, k) and right block (k, n), and the strides, for each storage order.
    const aOff = v.transA ? "aBase + k * P.M + m" : "aBase + m * P.K + k";
    const aStride = v.transA ? "P.M" : "P.K";
    const bOff = v.transB ? "bBase + n * P.K + k" : "bBase + k * P.N + n";
    const bStride = v.transB ? "P.K" : "P.N";
    const body: string[] = [];
    for (let i = 0; i < tm; i++) {
      body.push(`      { let m = m0 + ${i * s.M}u; a${i} = ${load(leftT, "A", aOff, v.transA, aStride)}; }`);
    }
    for (let j = 0; j < tn; j++) {
      body.push(`      { let n = n0 + ${j * s.N}u; b${j} = ${load(rightT, "B", bOff, v.transB, bStride)}; }`);
    }
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++)
        body.push(`      c${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, c${i}_${j});`);
    }
    const stores: string[] = [];
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++) {
        stores.push(`  ${store("tile", `${i * s.M * tileN + j * s.N}u`, `c${i}_${j}`, `${tileN}u`)};`);
      }
    }
    const f16 = T === "f16" || R === "f16" || e.dtype === "f16";
    return `${f16 ? "enable f16;" : ""}
enable subgroups;
enable chromium_experimental_subgroup_matrix;
${declareBindings([
  { name: "A", type: T, access: "read" },
  { name: "B", type: T, access: "read" },
  ...epilogueBindings(e),
])}
struct Params { ${SGMAT_FIELDS.map(([n, t]) => `${n}: ${t},`).join(" ")} }
@group(0) @binding(${2 + epilogueBindings(e).length}) var<uniform> P: Params;
var<workgroup> tile: array<${R}, ${tileM * tileN}>;
${epilogueWGSL(e)}
@compute @workgroup_size(${sg})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * ${tileM}u;
  let n0 = wg.x * ${tileN}u;
  let batch = wg.z;
  let aBase = batch * P.sa;
  let bBase = batch * P.sb;
${Array.from({ length: tm }, (_, i) => `  var a${i}: ${leftT};`).join("\n")}
${Array.from({ length: tn }, (_, j) => `  var b${j}: ${rightT};`).join("\n")}
${Array.from({ length: tm * tn }, (_, q) => `  var c${Math.floor(q / tn)}_${q % tn}: ${resT};`).join("\n")}
  // The op only selects this kernel when M, N and K are multiples of the block shape, so every block
  // lies inside the operands except whole blocks past M or N, which read clamped rows and are not stored.
  for (var k = 0u; k < P.K; k += ${s.K}u) {
${body.join("\n")}
  }
${stores.join("\n")}
  workgroupBarrier();
  let cBase = batch * P.cBatch;
  for (var g = li; g < ${(tileM * tileN) / 4}u; g += ${sg}u) {
    let r = g / ${tileN / 4}u;
    let c = (g % ${tileN / 4}u) * 4u;
    let m = m0 + r;
    let n = n0 + c;
    if (m < P.M && n < P.N) {
      let o = r * ${tileN}u + c;
      store4(cBase, m, n, vec4f(f32(tile[o]), f32(tile[o + 1u]), f32(tile[o + 2u]), f32(tile[o + 3u])));
    }
  }
}`;
  },
);
