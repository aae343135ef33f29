/**
 * WGSL generators for FlashAttention-2 (Dao, 2023): a forward pass with an online softmax that keeps only
 * O and the per-row log-sum-exp L, and a backward pass that recomputes the probabilities tile by tile
 * from Q, K and L. The S×S score matrix never exists in memory, forward or backward.
 *
 * Layout: q [BH, Sq, D], k/v [BH, Sk, D], o/dO/dQ like q, dK/dV like k, L and Δ [BH, Sq] (f32 always).
 * Each invocation owns one row (a query row in the forward and dQ passes, a key row in the dK/dV pass)
 * and keeps that row's operands and accumulators in registers as NV = D/VW vectors; the loop runs over
 * the other side's rows, which are the same for every invocation of a workgroup. Two ways to feed them:
 *
 * - "direct": every invocation reads the other side's row straight from the storage buffer. The address
 *   is workgroup-uniform, so lavapipe (llvmpipe) emits one scalar load and a broadcast instead of a
 *   per-lane gather, and there is no barrier; this is what a SIMD CPU wants (PERF-NOTES: shared-memory
 *   tiles are slower than plain loads there).
 * - "tiled": the workgroup first copies a tile of BC rows into workgroup memory cooperatively (each
 *   element loaded from global memory once per workgroup, coalesced), then every invocation reads the
 *   tile; the classic GPU shape.
 *
 * Scores are kept in base-2 units (q pre-scaled by scale·log2 e, so exp2 replaces exp); L is stored in
 * those units too, which is private to these kernels.
 *
 * Dropout: the keep decision for (bh, query i, key j) is philox_uniform(seed, offset, (bh·Sq + i)·Sk + j)
 * ≥ p — the flat index of the [B, H, Sq, Sk] probability tensor, which is exactly what `dropout()` on the
 * naive path's probabilities draws, so both paths drop the same entries. The index is u32: it wraps for
 * B·H·Sq·Sk ≥ 2³², which the naive path could not allocate anyway.
 *
 * Backward (no float atomics in WGSL, so every output element has exactly one writer; deterministic):
 *   Δ_i = rowsum(dO_i ∘ O_i)                                   (flash_attention_delta, one row each)
 *   P_ij = exp(s_ij − L_i), Z_ij = keep_ij / (1 − p)          (recomputed, never stored)
 *   dV_j = Σ_i P_ij Z_ij dO_i,  dK_j = scale Σ_i dS_ij Q_i     (flash_attention_dkv: owns key rows)
 *   dQ_i = scale Σ_j dS_ij K_j                                 (flash_attention_dq: owns query rows)
 *   dS_ij = P_ij (Z_ij dO_i·V_j − Δ_i)     (Δ_i = Σ_j P_ij Z_ij dO_i·V_j = dO_i·O_i, so it covers dropout)
 */
import { PHILOX_WGSL } from "../rng.js";
import { declareBindings } from "./wgsl.js";

export type FlashVariant = "direct" | "tiled";

export interface FlashKernelConfig {
  /** Head dim (compile-time: the row lives in registers). */
  D: number;
  dtype: "f32" | "f16";
  dropout: boolean;
  variant: FlashVariant;
  /** Invocations (rows owned) per workgroup. */
  wg: number;
  /** Rows of the other side per inner block: the online-softmax rescale block, and the tile in "tiled". */
  bc: number;
}

/** Uniforms shared by all four kernels (unused ones cost nothing). */
export const FLASH_FIELDS = [
  ["sq", "u32"],
  ["sk", "u32"],
  ["bh", "u32"],
  ["qs", "f32"], // scale · log2(e): base-2 scores
  ["scale", "f32"],
  ["p", "f32"],
  ["rs", "f32"], // 1 / (1 − p)
  ["seed", "u32"],
  ["offset", "u32"],
] as const;

/** Largest vector width dividing D (vec4 loads where possible; any D still works). */
export function vectorWidth(D: number): 1 | 2 | 4 {
  return D % 4 === 0 ? 4 : D % 2 === 0 ? 2 : 1;
}

export function flashKey(kind: string, c: FlashKernelConfig): string {
  return `flash_attention_${kind}|${c.D}|${c.dtype}|${c.dropout}|${c.variant}|${c.wg}|${c.bc}`;
}

/** Type names and helpers for one configuration. */
function types(c: FlashKernelConfig) {
  const vw = vectorWidth(c.D);
  const nv = c.D / vw;
  const vt = vw === 1 ? "f32" : `vec${vw}<f32>`; // compute type
  const st = vw === 1 ? c.dtype : `vec${vw}<${c.dtype}>`; // storage element type
  const zero = `${vt}(0.0)`;
  const dot = (a: string, b: string) => (vw === 1 ? `(${a} * ${b})` : `dot(${a}, ${b})`);
  const each = (f: (i: number) => string, sep = "\n  ") => Array.from({ length: nv }, (_, i) => f(i)).join(sep);
  const sumDots = (a: (i: number) => string, b: (i: number) => string) =>
    Array.from({ length: nv }, (_, i) => dot(a(i), b(i))).join(" + ");
  const enable = c.dtype === "f16" ? "enable f16;" : "";
  return { vw, nv, vt, st, zero, dot, each, sumDots, enable };
}

/** Workgroup layout shared by the three row kernels: x = row block, (y, z) = batch·head. */
function header(c: FlashKernelConfig): string {
  return `@compute @workgroup_size(${c.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= P.bh) { return; }`;
}

/** The keep weight z = keep / (1 − p) for flat probability index `idx` (1 without dropout). */
function dropWeight(c: FlashKernelConfig, idx: string): string {
  return c.dropout ? `select(0.0, P.rs, philox_uniform(P.seed, P.offset, ${idx}) >= P.p)` : "1.0";
}

/**
 * Forward: o = softmax(q kᵀ · scale) (with dropout) · v and L = log-sum-exp per row (base 2).
 * Bindings: q, k, v, o, L.
 */
export function flashForwardWGSL(c: FlashKernelConfig): string {
  const { nv, vt, st, zero, each, sumDots, enable } = types(c);
  const tiled = c.variant === "tiled";
  const kAt = (i: number) => (tiled ? `kt[kr + ${i}u]` : `${vt}(K[kr + ${i}u])`);
  const vAt = (i: number) => (tiled ? `vt[kr + ${i}u]` : `${vt}(Vv[kr + ${i}u])`);
  const rowOf = tiled ? "t * NV" : "(kb0 + min(j0 + t, P.sk - 1u)) * NV";
  return `${enable}
${declareBindings(
  [
    { name: "Q", type: st, access: "read" },
    { name: "K", type: st, access: "read" },
    { name: "Vv", type: st, access: "read" },
    { name: "O", type: st, access: "read_write" },
    { name: "L", type: "f32", access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${c.dropout ? PHILOX_WGSL : ""}
const NV = ${nv}u;
const BC = ${c.bc}u;
${tiled ? `var<workgroup> kt: array<${vt}, ${c.bc * nv}>;\nvar<workgroup> vt: array<${vt}, ${c.bc * nv}>;` : ""}
${header(c)}
  let row = wid.x * ${c.wg}u + lid;
  // Rows past the end compute on a clamped row (uniform work, barriers reached) and skip the store.
  let r = min(row, P.sq - 1u);
  let qr = (bh * P.sq + r) * NV;
  ${each((i) => `let q${i} = ${vt}(Q[qr + ${i}u]) * P.qs;`)}
  ${each((i) => `var o${i} = ${zero};`)}
  var m = -1.0e30;
  var l = 0.0;
  let kb0 = bh * P.sk;
  let pbase = (bh * P.sq + r) * P.sk;
  var s: array<f32, ${c.bc}>;
  for (var j0 = 0u; j0 < P.sk; j0 += BC) {
${
  tiled
    ? `    workgroupBarrier();
    for (var e = lid; e < BC * NV; e += ${c.wg}u) {
      let src = (kb0 + min(j0 + e / NV, P.sk - 1u)) * NV + e % NV;
      kt[e] = ${vt}(K[src]);
      vt[e] = ${vt}(Vv[src]);
    }
    workgroupBarrier();`
    : ""
}
    var mb = m;
    for (var t = 0u; t < BC; t++) {
      let kr = ${rowOf};
      let dotqk = ${sumDots((i) => `q${i}`, kAt)};
      // Keys past the end get a score of −1e30: exp2 turns it into an exact 0.
      let sc = select(-1.0e30, dotqk, j0 + t < P.sk);
      s[t] = sc;
      mb = max(mb, sc);
    }
    // Online softmax: rescale what was accumulated under the old running max once per block.
    let alpha = exp2(m - mb);
    m = mb;
    l = l * alpha;
    ${each((i) => `o${i} = o${i} * alpha;`, "\n    ")}
    for (var t = 0u; t < BC; t++) {
      let kr = ${rowOf};
      let pe = exp2(s[t] - m);
      l = l + pe;
      let pz = pe * ${dropWeight(c, "pbase + j0 + t")};
      ${each((i) => `o${i} = o${i} + pz * ${vAt(i)};`, "\n      ")}
    }
  }
  if (row < P.sq) {
    let inv = 1.0 / l;
    ${each((i) => `O[qr + ${i}u] = ${st}(o${i} * inv);`)}
    L[bh * P.sq + r] = m + log2(l);
  }
}`;
}

/** Δ_i = dO_i · O_i, one invocation per row (rows = BH·Sq, 1-D grid of 64). Bindings: o, dO, Δ. */
export function flashDeltaWGSL(c: FlashKernelConfig): string {
  const { vt, st, sumDots, enable } = types(c);
  return `${enable}
${declareBindings(
  [
    { name: "O", type: st, access: "read" },
    { name: "dO", type: st, access: "read" },
    { name: "Dl", type: "f32", access: "read_write" },
  ],
  FLASH_FIELDS,
)}
const NV = ${types(c).nv}u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= P.bh * P.sq) { return; }
  let b = row * NV;
  Dl[row] = ${sumDots((i) => `${vt}(O[b + ${i}u])`, (i) => `${vt}(dO[b + ${i}u])`)};
}`;
}

/**
 * dK and dV: each invocation owns one key row and loops over every query row, so each dK/dV element
 * has one writer. Bindings: q, k, v, dO, L, Δ, dK, dV.
 */
export function flashBackwardKVWGSL(c: FlashKernelConfig): string {
  const { vt, st, zero, each, sumDots, enable } = types(c);
  const tiled = c.variant === "tiled";
  const qAt = (i: number) => (tiled ? `qt[qr + ${i}u]` : `${vt}(Q[qr + ${i}u])`);
  const dAt = (i: number) => (tiled ? `gt[qr + ${i}u]` : `${vt}(dO[qr + ${i}u])`);
  const rowOf = tiled ? "t * NV" : "(qb0 + i) * NV";
  const lAt = tiled ? "lt[t]" : "L[qb0 + i]";
  const deltaAt = tiled ? "dt[t]" : "Dl[qb0 + i]";
  const { nv } = types(c);
  return `${enable}
${declareBindings(
  [
    { name: "Q", type: st, access: "read" },
    { name: "K", type: st, access: "read" },
    { name: "Vv", type: st, access: "read" },
    { name: "dO", type: st, access: "read" },
    { name: "L", type: "f32", access: "read" },
    { name: "Dl", type: "f32", access: "read" },
    { name: "dK", type: st, access: "read_write" },
    { name: "dV", type: st, access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${c.dropout ? PHILOX_WGSL : ""}
const NV = ${nv}u;
const BC = ${c.bc}u;
${
  tiled
    ? `var<workgroup> qt: array<${vt}, ${c.bc * nv}>;
var<workgroup> gt: array<${vt}, ${c.bc * nv}>;
var<workgroup> lt: array<f32, ${c.bc}>;
var<workgroup> dt: array<f32, ${c.bc}>;`
    : ""
}
${header(c)}
  let col = wid.x * ${c.wg}u + lid;
  let j = min(col, P.sk - 1u);
  let kr = (bh * P.sk + j) * NV;
  // k pre-scaled into base-2 score units; dK is scaled by the natural scale at the end.
  ${each((i) => `let k${i} = ${vt}(K[kr + ${i}u]) * P.qs;`)}
  ${each((i) => `let v${i} = ${vt}(Vv[kr + ${i}u]);`)}
  ${each((i) => `var dk${i} = ${zero};`)}
  ${each((i) => `var dv${i} = ${zero};`)}
  let qb0 = bh * P.sq;
${
  tiled
    ? `  for (var i0 = 0u; i0 < P.sq; i0 += BC) {
    workgroupBarrier();
    for (var e = lid; e < BC * NV; e += ${c.wg}u) {
      let src = (qb0 + min(i0 + e / NV, P.sq - 1u)) * NV + e % NV;
      qt[e] = ${vt}(Q[src]);
      gt[e] = ${vt}(dO[src]);
    }
    for (var e = lid; e < BC; e += ${c.wg}u) {
      let src = qb0 + min(i0 + e, P.sq - 1u);
      lt[e] = L[src];
      dt[e] = Dl[src];
    }
    workgroupBarrier();
    let n = min(BC, P.sq - i0);
    for (var t = 0u; t < n; t++) {
      let i = i0 + t;`
    : `  for (var i = 0u; i < P.sq; i++) {
    {`
}
      let qr = ${rowOf};
      let pe = exp2(${sumDots(qAt, (i) => `k${i}`)} - ${lAt});
      let z = ${dropWeight(c, "(qb0 + i) * P.sk + j")};
      let pz = pe * z;
      ${each((i) => `dv${i} = dv${i} + pz * ${dAt(i)};`, "\n      ")}
      let dp = ${sumDots(dAt, (i) => `v${i}`)};
      let ds = pe * (dp * z - ${deltaAt});
      ${each((i) => `dk${i} = dk${i} + ds * ${qAt(i)};`, "\n      ")}
    }
  }
  if (col < P.sk) {
    ${each((i) => `dK[kr + ${i}u] = ${st}(dk${i} * P.scale);`)}
    ${each((i) => `dV[kr + ${i}u] = ${st}(dv${i});`)}
  }
}`;
}

/**
 * dQ: each invocation owns one query row and loops over every key row. Bindings: q, k, v, dO, L, Δ, dQ.
 */
export function flashBackwardQWGSL(c: FlashKernelConfig): string {
  const { nv, vt, st, zero, each, sumDots, enable } = types(c);
  const tiled = c.variant === "tiled";
  const kAt = (i: number) => (tiled ? `kt[kr + ${i}u]` : `${vt}(K[kr + ${i}u])`);
  const vAt = (i: number) => (tiled ? `vt[kr + ${i}u]` : `${vt}(Vv[kr + ${i}u])`);
  const rowOf = tiled ? "t * NV" : "(kb0 + j) * NV";
  return `${enable}
${declareBindings(
  [
    { name: "Q", type: st, access: "read" },
    { name: "K", type: st, access: "read" },
    { name: "Vv", type: st, access: "read" },
    { name: "dO", type: st, access: "read" },
    { name: "L", type: "f32", access: "read" },
    { name: "Dl", type: "f32", access: "read" },
    { name: "dQ", type: st, access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${c.dropout ? PHILOX_WGSL : ""}
const NV = ${nv}u;
const BC = ${c.bc}u;
${tiled ? `var<workgroup> kt: array<${vt}, ${c.bc * nv}>;\nvar<workgroup> vt: array<${vt}, ${c.bc * nv}>;` : ""}
${header(c)}
  let row = wid.x * ${c.wg}u + lid;
  let r = min(row, P.sq - 1u);
  let qr = (bh * P.sq + r) * NV;
  ${each((i) => `let q${i} = ${vt}(Q[qr + ${i}u]) * P.qs;`)}
  ${each((i) => `let g${i} = ${vt}(dO[qr + ${i}u]);`)}
  ${each((i) => `var dq${i} = ${zero};`)}
  let li = L[bh * P.sq + r];
  let di = Dl[bh * P.sq + r];
  let kb0 = bh * P.sk;
  let pbase = (bh * P.sq + r) * P.sk;
${
  tiled
    ? `  for (var j0 = 0u; j0 < P.sk; j0 += BC) {
    workgroupBarrier();
    for (var e = lid; e < BC * NV; e += ${c.wg}u) {
      let src = (kb0 + min(j0 + e / NV, P.sk - 1u)) * NV + e % NV;
      kt[e] = ${vt}(K[src]);
      vt[e] = ${vt}(Vv[src]);
    }
    workgroupBarrier();
    let n = min(BC, P.sk - j0);
    for (var t = 0u; t < n; t++) {
      let j = j0 + t;`
    : `  for (var j = 0u; j < P.sk; j++) {
    {`
}
      let kr = ${rowOf};
      let pe = exp2(${sumDots((i) => `q${i}`, kAt)} - li);
      let z = ${dropWeight(c, "pbase + j")};
      let dp = ${sumDots((i) => `g${i}`, vAt)};
      let ds = pe * (dp * z - di);
      ${each((i) => `dq${i} = dq${i} + ds * ${kAt(i)};`, "\n      ")}
    }
  }
  if (row < P.sq) {
    ${each((i) => `dQ[qr + ${i}u] = ${st}(dq${i} * P.scale);`)}
  }
}`;
}
