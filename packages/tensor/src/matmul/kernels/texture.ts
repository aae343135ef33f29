import { defineKernel } from "../../kernels/kernel.js";
/**
 * Matmul for CPU adapters (Mesa lavapipe/llvmpipe): operands read through textures, A shared across the
 * subgroup with constant-lane shuffles, register-blocked R×4 outputs per lane, f32 accumulation.
 *
 * Why this shape (measured, PERF-NOTES.md): llvmpipe runs 8 invocations as one SIMD vector and turns a
 * divergent storage-buffer load into a per-lane loop with a bounds-check branch per component, so a
 * storage-buffer matmul is load-bound at ~10-20 GFLOP/s whatever the tiling; workgroup memory is
 * slower still. `textureLoad` compiles to a vectorised fetch, and a constant-lane `subgroupShuffle` of a
 * register is one vpermps. So each lane fetches a few texels of A (rows of the tile) and the subgroup shares them,
 * while each lane fetches its own 4 columns of B; every fetched texel then feeds R (up to 32) vec4
 * multiply-adds. Texture fetches are function calls that spill live registers, which is why a tall
 * tile (32 rows: 128 accumulators, some spilled) still beats a register-resident 8-row one.
 *
 * Operands live in textures in "linear-wrapped" layout: texel i of the matrix sits at
 * (i % 4096, i / 4096), so a row-major buffer whose contiguous dimension is a multiple of 4 is copied in
 * unchanged (copyBufferToTexture, ~memcpy speed) and any other operand is packed by ./pack.ts.
 * Both storage orders of each operand are read directly:
 *   A "row": texel (m, k4) = A[m, 4k4..4k4+3]     A "col" (Aᵀ stored [K, M]): texel (k, m4) = A[4m4.., k]
 *   B "row": texel (k, n4) = B[k, 4n4..4n4+3]     B "col" (Bᵀ stored [N, K]): texel (n, k4) = B[4k4.., n]
 * so x·Wᵀ, dY·W and dYᵀ·X all need no transposing copy.
 */
import { declareBindings } from "../../kernels/wgsl.js";
import { type EpilogueSpec, epilogueBindings, epilogueWGSL } from "./epilogue.js";

export type OperandMode = "row" | "col";
export type OperandFormat = "rgba32float" | "rgba16float";

export interface TextureMatmulVariant {
  aMode: OperandMode;
  bMode: OperandMode;
  /** Rows per tile (a multiple of the subgroup size). */
  rows: number;
  /** Subgroup size = workgroup size (lanes). */
  sg: number;
  epilogue: EpilogueSpec;
  /**
   * How the operand textures are read: as read-only storage textures (their formats declared), where the
   * WGSL extension readonly_and_readwrite_storage_textures exists, else as sampled textures. llvmpipe's
   * image loads cost less than its sampler fetches (both are calls through the descriptor): 1.3-1.45x on
   * the tiny ViT's products on an AVX2 host, measured interleaved in one process.
   */
  read: { a: OperandFormat; b: OperandFormat } | "sampled";
}

/** log2 of the texture width in texels. */
export const TEX_WIDTH_LOG2 = 12;
export const TEX_WIDTH = 1 << TEX_WIDTH_LOG2;

export const TEXTURE_MATMUL_FIELDS = [
  ["M", "u32"],
  ["N", "u32"],
  ["K", "u32"],
  ["K4", "u32"],
  ["aRow", "u32"],
  ["aBatch", "u32"],
  ["bRow", "u32"],
  ["bBatch", "u32"],
  ["cBatch", "u32"],
  ["alpha", "f32"],
] as const;

export const textureMatmulKernel = defineKernel("matmul_texture", (v: TextureMatmulVariant): string => {
  const { rows: R, sg: SG } = v;
  if (R % SG || SG % 4 || SG > 32)
    // bug, not user input
    throw new Error("internal: texture matmul needs rows % sg == 0 and sg in {4, 8, 16, 32}");
  const rounds = R / SG; // A fetches per lane per 4-wide k step
  const e = v.epilogue;
  const lines: string[] = [];
  const L = (s: string) => lines.push(s);

  // a[r][i]: where A[m0 + r, 4k4 + i] is after the shuffles: component c of the texel that lane l fetched
  // in round q, shared as x{q}_{l} (uniform across lanes).
  const a: Array<Array<{ q: number; l: number; c: number }>> = Array.from({ length: R }, () => []);
  for (let q = 0; q < rounds; q++) {
    for (let l = 0; l < SG; l++) {
      if (v.aMode === "row") {
        // lane l, round q fetched row q·SG + l: 4 consecutive k.
        for (let i = 0; i < 4; i++) a[q * SG + l]![i] = { q, l, c: i };
      } else {
        // lane l, round q fetched k-offset (l & 3) of rows 4·j..4·j+3, j = (l >> 2) + q·SG/4.
        const i = l & 3;
        const j = (l >> 2) + q * (SG / 4);
        for (let c = 0; c < 4; c++) a[4 * j + c]![i] = { q, l, c };
      }
    }
  }

  L("enable subgroups;");
  if (e.dtype === "f16") L("enable f16;");
  L(declareBindings(epilogueBindings(e)));
  const nb = epilogueBindings(e).length;
  const texType = (f: OperandFormat | undefined) =>
    f ? `texture_storage_2d<${f}, read>` : "texture_2d<f32>";
  const storage = v.read === "sampled" ? null : v.read;
  L(`@group(0) @binding(${nb}) var At: ${texType(storage?.a)};`);
  L(`@group(0) @binding(${nb + 1}) var Bt: ${texType(storage?.b)};`);
  L(`struct Params { ${TEXTURE_MATMUL_FIELDS.map(([n, t]) => `${n}: ${t},`).join(" ")} }`);
  L(`@group(0) @binding(${nb + 2}) var<uniform> P: Params;`);
  const level = storage ? "" : ", 0"; // storage textures have no mip level argument
  for (const [f, t] of [
    ["ldA", "At"],
    ["ldB", "Bt"],
  ])
    L(
      `fn ${f}(i: u32) -> vec4f { return textureLoad(${t}, vec2u(i & ${TEX_WIDTH - 1}u, i >> ${TEX_WIDTH_LOG2}u)${level}); }`,
    );
  L(epilogueWGSL(e));
  L(`@compute @workgroup_size(${SG})`);
  L(
    "fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) sl: u32) {",
  );
  L("  let batch = wg.z;");
  L(`  let m0 = wg.y * ${R}u;`);
  L(`  let n4 = wg.x * ${SG}u + li;`);
  L("  let aBase = batch * P.aBatch;");
  L("  let bBase = batch * P.bBatch;");
  // Fetch coordinates are clamped into the matrix: lanes and rows past the edge compute values the
  // epilogue never stores, and a clamped fetch never reads another batch or uninitialised texels. Past
  // K, A is zero (K % 4 != 0 forces A through the zero-padding pack), so clamped B rows add nothing.
  L("  let mMax = P.M - 1u;");
  L("  let nMax = P.N - 1u;");
  L("  let kMax = P.K - 1u;");
  if (v.aMode === "row") {
    for (let q = 0; q < rounds; q++) L(`  let aOff${q} = aBase + min(m0 + ${q * SG}u + sl, mMax) * P.aRow;`);
  } else {
    for (let q = 0; q < rounds; q++)
      L(`  let aOff${q} = aBase + min(m0 / 4u + (sl >> 2u) + ${q * (SG / 4)}u, mMax / 4u);`);
  }
  if (v.bMode === "row") {
    L("  let bCol = bBase + min(n4, nMax / 4u);");
  } else {
    for (let j = 0; j < 4; j++) L(`  let bOff${j} = bBase + min(n4 * 4u + ${j}u, nMax) * P.bRow;`);
  }
  for (let r = 0; r < R; r++) L(`  var acc${r} = vec4f(0.0);`);
  L("  for (var k4 = 0u; k4 < P.K4; k4++) {");
  // A: `rounds` texels per lane, shared below.
  for (let q = 0; q < rounds; q++) {
    if (v.aMode === "row") L(`    let av${q} = ldA(aOff${q} + k4);`);
    else L(`    let av${q} = ldA(aOff${q} + min(k4 * 4u + (sl & 3u), kMax) * P.aRow);`);
  }
  // B: four texels per lane giving b0..b3 = B[4k4 + i, 4n4..4n4+3].
  if (v.bMode === "row") {
    for (let i = 0; i < 4; i++) L(`    let b${i} = ldB(bCol + min(k4 * 4u + ${i}u, kMax) * P.bRow);`);
  } else {
    for (let j = 0; j < 4; j++) L(`    let t${j} = ldB(bOff${j} + k4);`);
    for (let i = 0; i < 4; i++) L(`    let b${i} = vec4f(t0[${i}], t1[${i}], t2[${i}], t3[${i}]);`);
  }
  // Row by row, each shared texel made just before its first use: an accumulator is loaded, takes its four
  // products and is stored once per k step. On a CPU adapter the R×4 accumulators do not fit the vector
  // registers (16 on AVX2), and k-outer order spilled and reloaded each of them four times per step; row
  // order has 18% fewer instructions in the loop (GALLIVM_DEBUG=asm, Mesa 25.0.7, AVX2 host) and ran the
  // tiny ViT's products 1.15-1.3x faster. A constant-lane subgroupShuffle, not subgroupBroadcast: the same
  // value, but llvmpipe lowers the shuffle to one vpermps and the broadcast to three instructions with an
  // exec-mask AND (another 10% fewer instructions per k step).
  const made = new Set<string>();
  for (let r = 0; r < R; r++) {
    for (const { q, l } of a[r]!) {
      if (made.has(`${q}_${l}`)) continue;
      made.add(`${q}_${l}`);
      L(`    let x${q}_${l} = subgroupShuffle(av${q}, ${l}u);`);
    }
    for (let i = 0; i < 4; i++) {
      const { q, l, c } = a[r]![i]!;
      L(`    acc${r} += x${q}_${l}[${c}] * b${i};`);
    }
  }
  L("  }");
  L("  let cBase = batch * P.cBatch;");
  L("  let n = n4 * 4u;");
  L("  if (n >= P.N) { return; }");
  // One store4 in a loop rather than R inlined copies: with a GELU epilogue the unrolled version took
  // ~4 s to compile on lavapipe, the loop ~0.6 s, at no measurable cost per tile.
  L(`  let accs = array<vec4f, ${R}>(${Array.from({ length: R }, (_, r) => `acc${r}`).join(", ")});`);
  // (The trip count depends on M so the compiler cannot unroll the loop back into R copies.)
  L(`  let rEnd = min(${R}u, P.M - m0);`);
  L("  for (var r = 0u; r < rEnd; r++) { store4(cBase, m0 + r, n, accs[r]); }");
  L("}");
  return lines.join("\n");
});
