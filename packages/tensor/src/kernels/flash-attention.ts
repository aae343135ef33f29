/**
 * WGSL generators for FlashAttention-2 (Dao, 2023): a forward pass with an online softmax that keeps only
 * O and the per-row log-sum-exp L, and a backward pass that recomputes the probabilities block by block
 * from Q, K and L. The S×S score matrix never exists in memory, forward or backward.
 *
 * Layout: q [BH, Sq, D], k/v [BH, Sk, D], o/dO/dQ like q, dK/dV like k, L and Δ [BH, Sq] (f32 always).
 *
 * Shape of every row kernel: each invocation owns one row (a query row in the forward and dQ passes, a
 * key row in the dK/dV pass) and keeps that row's operands and accumulators in private arrays of D
 * floats; the loop walks the other side in blocks of KB rows that are the same for every invocation of
 * the workgroup. Per block, one loop over d forms KB dot products (KB independent accumulators, every
 * other-side element read once per block and reused across the workgroup's rows), and a second loop over
 * d applies the KB weights. That is a register-blocked matmul micro-kernel with the softmax in between.
 *
 * Where the other side's rows come from (per adapter, see ops/flash-attention.ts):
 * - "direct": straight from the storage buffer at a workgroup-uniform address, no barriers. On lavapipe
 *   the lanes of a workgroup are one SIMD vector, so this is a scalar load + broadcast per element.
 * - "tiled": the workgroup first copies BC rows into workgroup memory cooperatively (each element read
 *   from global memory once per workgroup, coalesced), then reads the tile; the classic GPU shape.
 * D is either a compile-time constant (GPUs unroll the d loops and keep the arrays in registers) or a
 *   uniform with arrays of DMAX (lavapipe: LLVM would otherwise spend tens of seconds unrolling, and one
 *   pipeline then serves every head dim).
 *
 * Scores are kept in base-2 units (q or k pre-scaled by scale·log2 e, so exp2 replaces exp); L is stored
 * in those units too, which is private to these kernels.
 *
 * Dropout: the keep decision for (bh, query i, key j) is philox_uniform(seed, offset, (bh·Sq + i)·Sk + j)
 * ≥ p — the flat index of the [B, H, Sq, Sk] probability tensor, which is exactly what `dropout()` draws
 * on the naive path's probabilities, so both paths drop the same entries. The index is u32: it wraps for
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

export type FlashVariant = "direct" | "tiled" | "subgroup";

export interface FlashKernelConfig {
  /** Head dim when compiled in; 0 = read from the uniform `d` (arrays sized `dmax`). */
  D: number;
  /** Private array length when D is a uniform. */
  dmax: number;
  dtype: "f32" | "f16";
  dropout: boolean;
  variant: FlashVariant;
  /** Invocations (rows owned) per workgroup. */
  wg: number;
  /** Other-side rows per block (unrolled: KB accumulators). */
  kb: number;
  /** Rows per workgroup-memory tile ("tiled"; a multiple of kb). */
  bc: number;
}

/** Uniforms shared by all the kernels (unused ones cost nothing). */
export const FLASH_FIELDS = [
  ["sq", "u32"],
  ["sk", "u32"],
  ["bh", "u32"],
  ["d", "u32"],
  ["qs", "f32"], // scale · log2(e): base-2 scores
  ["scale", "f32"],
  ["p", "f32"],
  ["rs", "f32"], // 1 / (1 − p)
  ["seed", "u32"],
  ["offset", "u32"],
] as const;

export function flashKey(kind: string, c: FlashKernelConfig): string {
  return `flash_attention_${kind}|${c.D}|${c.dmax}|${c.dtype}|${c.dropout}|${c.variant}|${c.wg}|${c.kb}|${c.bc}`;
}

const seq = (n: number) => Array.from({ length: n }, (_, i) => i);

function common(c: FlashKernelConfig) {
  const len = c.D > 0 ? c.D : c.dmax;
  const each = (f: (t: number) => string, sep = "\n    ") => seq(c.kb).map(f).join(sep);
  return {
    enable: c.dtype === "f16" ? "enable f16;" : "",
    /** Module-scope constants: DD (head dim expression), KB, BC. */
    consts: `const KB = ${c.kb}u;\nconst BC = ${c.bc}u;`,
    dd: c.D > 0 ? `${c.D}u` : "P.d",
    arr: (name: string) => `var ${name}: array<f32, ${len}>;`,
    each,
    philox: c.dropout ? PHILOX_WGSL : "",
  };
}

/** Workgroup layout shared by the row kernels: x = row block, (y, z) = batch·head. */
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
 * The loop over the other side in blocks of KB rows starting at `first` (a row index in 0..n), with the
 * rows' element offsets r0..r{KB−1} defined (clamped to the last row) and, for "tiled", staged through
 * workgroup memory `tiles` (name → source buffer). `body` reads element d of row t through `at(buf, t)`.
 */
function blocks(
  c: FlashKernelConfig,
  n: string,
  rowBase: string,
  tiles: ReadonlyArray<readonly [tile: string, src: string]>,
  scalars: ReadonlyArray<readonly [tile: string, src: string]>,
  body: string,
): string {
  const { each } = common(c);
  if (c.variant === "direct") {
    return `  for (var j0 = 0u; j0 < ${n}; j0 += KB) {
    ${each((t) => `let r${t} = (${rowBase} + min(j0 + ${t}u, ${n} - 1u)) * DD;`)}
${body}
  }`;
  }
  return `  for (var b0 = 0u; b0 < ${n}; b0 += BC) {
    workgroupBarrier();
    for (var e = lid; e < BC * DD; e += ${c.wg}u) {
      let src = (${rowBase} + min(b0 + e / DD, ${n} - 1u)) * DD + e % DD;
      ${tiles.map(([t, s]) => `${t}[e] = f32(${s}[src]);`).join("\n      ")}
    }
    ${
      scalars.length
        ? `for (var e = lid; e < BC; e += ${c.wg}u) {
      let src = ${rowBase} + min(b0 + e, ${n} - 1u);
      ${scalars.map(([t, s]) => `${t}[e] = ${s}[src];`).join("\n      ")}
    }`
        : ""
    }
    workgroupBarrier();
    let bend = min(b0 + BC, ${n});
    for (var j0 = b0; j0 < bend; j0 += KB) {
    ${each((t) => `let r${t} = (j0 - b0 + ${t}u) * DD;`)}
${body}
    }
  }`;
}

/** Element expression for buffer `buf` (tile `tile` in "tiled") of block row t at column d. */
function at(c: FlashKernelConfig, buf: string, tile: string, t: number): string {
  return c.variant === "direct" ? `f32(${buf}[r${t} + d])` : `${tile}[r${t} + d]`;
}

/** Scalar per-row value (L, Δ) of block row t. */
function scalarAt(c: FlashKernelConfig, buf: string, tile: string, base: string, n: string, t: number): string {
  return c.variant === "direct" ? `${buf}[${base} + min(j0 + ${t}u, ${n} - 1u)]` : `${tile}[j0 - b0 + ${t}u]`;
}

function tileDecls(c: FlashKernelConfig, names: string[], scalars: string[] = []): string {
  if (c.variant !== "tiled") return "";
  const len = c.bc * (c.D > 0 ? c.D : c.dmax);
  return [...names.map((n) => `var<workgroup> ${n}: array<f32, ${len}>;`), ...scalars.map((n) => `var<workgroup> ${n}: array<f32, ${c.bc}>;`)].join("\n");
}

/**
 * Forward: o = softmax(q kᵀ · scale) (with dropout) · v and L = log-sum-exp per row (base 2).
 * Bindings: q, k, v, o, L.
 */
export function flashForwardWGSL(c: FlashKernelConfig): string {
  const { enable, consts, dd, arr, each, philox } = common(c);
  const body = `    ${each((t) => `var s${t} = 0.0;`, " ")}
    for (var d = 0u; d < DD; d++) {
      let qd = q[d];
      ${each((t) => `s${t} = s${t} + qd * ${at(c, "K", "kt", t)};`, "\n      ")}
    }
    // Keys past the end score −1e30: exp2 turns that into an exact 0.
    ${each((t) => `s${t} = select(-1.0e30, s${t}, j0 + ${t}u < P.sk);`)}
    let mb = max(m, ${seq(c.kb).reduceRight((acc, t) => (acc ? `max(s${t}, ${acc})` : `s${t}`), "")});
    // Online softmax: rescale what was accumulated under the old running max once per block.
    let alpha = exp2(m - mb);
    m = mb;
    ${each((t) => `let p${t} = exp2(s${t} - mb);`)}
    l = l * alpha + ${each((t) => `p${t}`, " + ")};
    ${each((t) => `let z${t} = p${t} * ${dropWeight(c, `pbase + j0 + ${t}u`)};`)}
    for (var d = 0u; d < DD; d++) {
      o[d] = o[d] * alpha + ${each((t) => `z${t} * ${at(c, "Vv", "vt", t)}`, " + ")};
    }`;
  return `${enable}
${declareBindings(
  [
    { name: "Q", type: c.dtype, access: "read" },
    { name: "K", type: c.dtype, access: "read" },
    { name: "Vv", type: c.dtype, access: "read" },
    { name: "O", type: c.dtype, access: "read_write" },
    { name: "L", type: "f32", access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${philox}
${consts}
${tileDecls(c, ["kt", "vt"])}
${header(c)}
  let DD = ${dd};
  let row = wid.x * ${c.wg}u + lid;
  // Rows past the end compute on a clamped row (uniform work, barriers reached) and skip the store.
  let r = min(row, P.sq - 1u);
  let qr = (bh * P.sq + r) * DD;
  ${arr("q")}
  ${arr("o")}
  for (var d = 0u; d < DD; d++) {
    q[d] = f32(Q[qr + d]) * P.qs;
    o[d] = 0.0;
  }
  var m = -1.0e30;
  var l = 0.0;
  let kb0 = bh * P.sk;
  let pbase = (bh * P.sq + r) * P.sk;
${blocks(c, "P.sk", "kb0", [["kt", "K"], ["vt", "Vv"]], [], body)}
  if (row < P.sq) {
    let inv = 1.0 / l;
    for (var d = 0u; d < DD; d++) { O[qr + d] = ${c.dtype}(o[d] * inv); }
    L[bh * P.sq + r] = m + log2(l);
  }
}`;
}

/** Δ_i = dO_i · O_i, one invocation per row (rows = BH·Sq, 1-D grid of 64). Bindings: o, dO, Δ. */
export function flashDeltaWGSL(c: FlashKernelConfig): string {
  const { enable, dd } = common(c);
  return `${enable}
${declareBindings(
  [
    { name: "O", type: c.dtype, access: "read" },
    { name: "dO", type: c.dtype, access: "read" },
    { name: "Dl", type: "f32", access: "read_write" },
  ],
  FLASH_FIELDS,
)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= P.bh * P.sq) { return; }
  let DD = ${dd};
  let b = row * DD;
  var acc = 0.0;
  for (var d = 0u; d < DD; d++) { acc = acc + f32(O[b + d]) * f32(dO[b + d]); }
  Dl[row] = acc;
}`;
}

/**
 * dK and dV: each invocation owns one key row and loops over every query row, so each dK/dV element
 * has one writer. Bindings: q, k, v, dO, L, Δ, dK, dV.
 */
export function flashBackwardKVWGSL(c: FlashKernelConfig): string {
  const { enable, consts, dd, arr, each, philox } = common(c);
  const body = `    ${each((t) => `var s${t} = 0.0; var dp${t} = 0.0;`)}
    for (var d = 0u; d < DD; d++) {
      let kd = k[d];
      let vd = v[d];
      ${each((t) => `s${t} = s${t} + kd * ${at(c, "Q", "qt", t)}; dp${t} = dp${t} + vd * ${at(c, "dO", "gt", t)};`, "\n      ")}
    }
    // Query rows past the end contribute nothing.
    ${each((t) => `let p${t} = select(0.0, exp2(s${t} - ${scalarAt(c, "L", "lt", "qb0", "P.sq", t)}), j0 + ${t}u < P.sq);`)}
    ${each((t) => `let z${t} = ${dropWeight(c, `(qb0 + min(j0 + ${t}u, P.sq - 1u)) * P.sk + j`)};`)}
    ${each((t) => `let pz${t} = p${t} * z${t};`)}
    ${each((t) => `let ds${t} = p${t} * (dp${t} * z${t} - ${scalarAt(c, "Dl", "dt", "qb0", "P.sq", t)});`)}
    for (var d = 0u; d < DD; d++) {
      dv[d] = dv[d] + ${each((t) => `pz${t} * ${at(c, "dO", "gt", t)}`, " + ")};
      dk[d] = dk[d] + ${each((t) => `ds${t} * ${at(c, "Q", "qt", t)}`, " + ")};
    }`;
  return `${enable}
${declareBindings(
  [
    { name: "Q", type: c.dtype, access: "read" },
    { name: "K", type: c.dtype, access: "read" },
    { name: "Vv", type: c.dtype, access: "read" },
    { name: "dO", type: c.dtype, access: "read" },
    { name: "L", type: "f32", access: "read" },
    { name: "Dl", type: "f32", access: "read" },
    { name: "dK", type: c.dtype, access: "read_write" },
    { name: "dV", type: c.dtype, access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${philox}
${consts}
${tileDecls(c, ["qt", "gt"], ["lt", "dt"])}
${header(c)}
  let DD = ${dd};
  let col = wid.x * ${c.wg}u + lid;
  let j = min(col, P.sk - 1u);
  let kr = (bh * P.sk + j) * DD;
  ${arr("k")}
  ${arr("v")}
  ${arr("dk")}
  ${arr("dv")}
  // k pre-scaled into base-2 score units; dK gets the natural scale at the end.
  for (var d = 0u; d < DD; d++) {
    k[d] = f32(K[kr + d]) * P.qs;
    v[d] = f32(Vv[kr + d]);
    dk[d] = 0.0;
    dv[d] = 0.0;
  }
  let qb0 = bh * P.sq;
${blocks(c, "P.sq", "qb0", [["qt", "Q"], ["gt", "dO"]], [["lt", "L"], ["dt", "Dl"]], body)}
  if (col < P.sk) {
    for (var d = 0u; d < DD; d++) {
      dK[kr + d] = ${c.dtype}(dk[d] * P.scale);
      dV[kr + d] = ${c.dtype}(dv[d]);
    }
  }
}`;
}

/**
 * dQ: each invocation owns one query row and loops over every key row. Bindings: q, k, v, dO, L, Δ, dQ.
 */
export function flashBackwardQWGSL(c: FlashKernelConfig): string {
  const { enable, consts, dd, arr, each, philox } = common(c);
  const body = `    ${each((t) => `var s${t} = 0.0; var dp${t} = 0.0;`)}
    for (var d = 0u; d < DD; d++) {
      let qd = q[d];
      let gd = g[d];
      ${each((t) => `s${t} = s${t} + qd * ${at(c, "K", "kt", t)}; dp${t} = dp${t} + gd * ${at(c, "Vv", "vt", t)};`, "\n      ")}
    }
    // Keys past the end contribute nothing.
    ${each((t) => `let p${t} = select(0.0, exp2(s${t} - li), j0 + ${t}u < P.sk);`)}
    ${each((t) => `let ds${t} = p${t} * (dp${t} * ${dropWeight(c, `pbase + min(j0 + ${t}u, P.sk - 1u)`)} - di);`)}
    for (var d = 0u; d < DD; d++) {
      dq[d] = dq[d] + ${each((t) => `ds${t} * ${at(c, "K", "kt", t)}`, " + ")};
    }`;
  return `${enable}
${declareBindings(
  [
    { name: "Q", type: c.dtype, access: "read" },
    { name: "K", type: c.dtype, access: "read" },
    { name: "Vv", type: c.dtype, access: "read" },
    { name: "dO", type: c.dtype, access: "read" },
    { name: "L", type: "f32", access: "read" },
    { name: "Dl", type: "f32", access: "read" },
    { name: "dQ", type: c.dtype, access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${philox}
${consts}
${tileDecls(c, ["kt", "vt"])}
${header(c)}
  let DD = ${dd};
  let row = wid.x * ${c.wg}u + lid;
  let r = min(row, P.sq - 1u);
  let qr = (bh * P.sq + r) * DD;
  ${arr("q")}
  ${arr("g")}
  ${arr("dq")}
  for (var d = 0u; d < DD; d++) {
    q[d] = f32(Q[qr + d]) * P.qs;
    g[d] = f32(dO[qr + d]);
    dq[d] = 0.0;
  }
  let li = L[bh * P.sq + r];
  let di = Dl[bh * P.sq + r];
  let kb0 = bh * P.sk;
  let pbase = (bh * P.sq + r) * P.sk;
${blocks(c, "P.sk", "kb0", [["kt", "K"], ["vt", "Vv"]], [], body)}
  if (row < P.sq) {
    for (var d = 0u; d < DD; d++) { dQ[qr + d] = ${c.dtype}(dq[d] * P.scale); }
  }
}`;
}

/*
 * "subgroup" variant (lavapipe): a workgroup is exactly one subgroup of KB = wg lanes (8 there), so the
 * block of KB other-side rows is loaded once — lane t fetches row t of the block as vec4 chunks — and
 * handed to every lane with subgroupBroadcast, which llvmpipe turns into a register shuffle. Reading the
 * same element from every lane instead costs a per-lane gather there (PERF-NOTES: divergent loads are
 * ~2.2 G elem/s, broadcasts ~6.9 G vec4/s). Needs D % 4 == 0 (vec4 rows); other head dims use "direct".
 */

function sgCommon(c: FlashKernelConfig) {
  const nc = c.D > 0 ? c.D / 4 : c.dmax / 4;
  const each = (f: (t: number) => string, sep = "\n    ") => seq(c.kb).map(f).join(sep);
  const vt = `vec4<${c.dtype}>`;
  return {
    head: `${c.dtype === "f16" ? "enable f16;\n" : ""}enable subgroups;`,
    consts: `const KB = ${c.kb}u;`,
    d4: c.D > 0 ? `${c.D / 4}u` : "(P.d / 4u)",
    arr: (name: string) => `var ${name}: array<vec4<f32>, ${nc}>;`,
    each,
    /** Σ_t w_t · broadcast(x, t). */
    bsum: (w: (t: number) => string, x: string) => seq(c.kb).map((t) => `${w(t)} * subgroupBroadcast(${x}, ${t}u)`).join(" + "),
    vt,
    philox: c.dropout ? `${PHILOX_WGSL}\n${BLOCK_DROPOUT_WGSL}` : "",
  };
}

/**
 * Dropout for a block of KB ≤ 9 consecutive flat indices e0 … e0+KB−1: one Philox call yields the words
 * of 4 consecutive indices (philox_uniform's counter is i >> 2), so three calls cover the block instead
 * of one call per element; keep_at picks index e0 + t's word exactly as philox_uniform would.
 */
const BLOCK_DROPOUT_WGSL = `
fn philox_words(c: u32) -> vec4u { return philox(vec4u(c, P.offset, 0u, 0u), vec2u(P.seed, 0x5eedu)); }
fn keep_at(w0: vec4u, w1: vec4u, w2: vec4u, pos: u32) -> f32 {
  let w = select(select(w0, w1, pos >= 4u), w2, pos >= 8u)[pos & 3u];
  return select(0.0, P.rs, f32(w >> 8u) * (1.0 / 16777216.0) >= P.p);
}`;

/** Lane-local words for the block starting at flat index `e0` (declares dw0..dw2 and da). */
function blockWords(e0: string): string {
  return `let de0 = ${e0};
    let da = de0 & 3u;
    let dw0 = philox_words(de0 >> 2u);
    let dw1 = philox_words((de0 >> 2u) + 1u);
    let dw2 = philox_words((de0 >> 2u) + 2u);`;
}

function sgHeader(c: FlashKernelConfig): string {
  return `@compute @workgroup_size(${c.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sgid: u32) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= P.bh) { return; }
  let D4 = ${sgCommon(c).d4};`;
}

export function flashForwardSubgroupWGSL(c: FlashKernelConfig): string {
  const { head, consts, arr, each, bsum, vt, philox } = sgCommon(c);
  return `${head}
${declareBindings(
  [
    { name: "Q", type: vt, access: "read" },
    { name: "K", type: vt, access: "read" },
    { name: "Vv", type: vt, access: "read" },
    { name: "O", type: vt, access: "read_write" },
    { name: "L", type: "f32", access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${philox}
${consts}
${sgHeader(c)}
  let row = wid.x * ${c.wg}u + lid;
  // Rows past the end compute on a clamped row (every lane must take part in the broadcasts).
  let r = min(row, P.sq - 1u);
  let qr = (bh * P.sq + r) * D4;
  ${arr("q")}
  ${arr("o")}
  for (var c = 0u; c < D4; c++) {
    q[c] = vec4<f32>(Q[qr + c]) * P.qs;
    o[c] = vec4<f32>(0.0);
  }
  var m = -1.0e30;
  var l = 0.0;
  let kb0 = bh * P.sk;
  let pbase = (bh * P.sq + r) * P.sk;
  for (var j0 = 0u; j0 < P.sk; j0 += KB) {
    // This lane's share of the block: key row j0 + sgid.
    let mr = (kb0 + min(j0 + sgid, P.sk - 1u)) * D4;
    ${each((t) => `var s${t} = 0.0;`, " ")}
    for (var c = 0u; c < D4; c++) {
      let kv = vec4<f32>(K[mr + c]);
      let qc = q[c];
      ${each((t) => `s${t} = s${t} + dot(qc, subgroupBroadcast(kv, ${t}u));`, "\n      ")}
    }
    // Keys past the end score −1e30: exp2 turns that into an exact 0.
    ${each((t) => `s${t} = select(-1.0e30, s${t}, j0 + ${t}u < P.sk);`)}
    let mb = max(m, ${seq(c.kb).reduceRight((acc, t) => (acc ? `max(s${t}, ${acc})` : `s${t}`), "")});
    // Online softmax: rescale what was accumulated under the old running max once per block.
    let alpha = exp2(m - mb);
    m = mb;
    ${each((t) => `let p${t} = exp2(s${t} - mb);`)}
    l = l * alpha + ${each((t) => `p${t}`, " + ")};
    ${c.dropout ? blockWords("pbase + j0") : ""}
    ${each((t) => `let z${t} = p${t}${c.dropout ? ` * keep_at(dw0, dw1, dw2, da + ${t}u)` : ""};`)}
    for (var c = 0u; c < D4; c++) {
      let vv = vec4<f32>(Vv[mr + c]);
      o[c] = o[c] * alpha + ${bsum((t) => `z${t}`, "vv")};
    }
  }
  if (row < P.sq) {
    let inv = 1.0 / l;
    for (var c = 0u; c < D4; c++) { O[qr + c] = ${vt}(o[c] * inv); }
    L[bh * P.sq + r] = m + log2(l);
  }
}`;
}

export function flashBackwardKVSubgroupWGSL(c: FlashKernelConfig): string {
  const { head, consts, arr, each, bsum, vt, philox } = sgCommon(c);
  return `${head}
${declareBindings(
  [
    { name: "Q", type: vt, access: "read" },
    { name: "K", type: vt, access: "read" },
    { name: "Vv", type: vt, access: "read" },
    { name: "dO", type: vt, access: "read" },
    { name: "L", type: "f32", access: "read" },
    { name: "Dl", type: "f32", access: "read" },
    { name: "dK", type: vt, access: "read_write" },
    { name: "dV", type: vt, access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${philox}
${consts}
${sgHeader(c)}
  let col = wid.x * ${c.wg}u + lid;
  let j = min(col, P.sk - 1u);
  let kr = (bh * P.sk + j) * D4;
  ${arr("k")}
  ${arr("v")}
  ${arr("dk")}
  ${arr("dv")}
  // k pre-scaled into base-2 score units; dK gets the natural scale at the end.
  for (var c = 0u; c < D4; c++) {
    k[c] = vec4<f32>(K[kr + c]) * P.qs;
    v[c] = vec4<f32>(Vv[kr + c]);
    dk[c] = vec4<f32>(0.0);
    dv[c] = vec4<f32>(0.0);
  }
  let qb0 = bh * P.sq;
  for (var i0 = 0u; i0 < P.sq; i0 += KB) {
    // This lane's share of the block: query row i0 + sgid, with its L and Δ.
    let mi = qb0 + min(i0 + sgid, P.sq - 1u);
    let mr = mi * D4;
    let ml = L[mi];
    let md = Dl[mi];
    ${each((t) => `var s${t} = 0.0; var dp${t} = 0.0;`)}
    for (var c = 0u; c < D4; c++) {
      let qv = vec4<f32>(Q[mr + c]);
      let gv = vec4<f32>(dO[mr + c]);
      let kc = k[c];
      let vc = v[c];
      ${each((t) => `s${t} = s${t} + dot(kc, subgroupBroadcast(qv, ${t}u)); dp${t} = dp${t} + dot(vc, subgroupBroadcast(gv, ${t}u));`, "\n      ")}
    }
    // Query rows past the end contribute nothing.
    ${each((t) => `let p${t} = select(0.0, exp2(s${t} - subgroupBroadcast(ml, ${t}u)), i0 + ${t}u < P.sq);`)}
    // Dropout: lane t draws the words of query row i0 + t for this workgroup's KB keys; each lane then
    // picks its key's word from lane t's (the keys of one query row are consecutive flat indices).
    ${c.dropout ? blockWords(`mi * P.sk + wid.x * ${c.wg}u`) : ""}
    ${each((t) =>
      c.dropout
        ? `let z${t} = keep_at(subgroupBroadcast(dw0, ${t}u), subgroupBroadcast(dw1, ${t}u), subgroupBroadcast(dw2, ${t}u), subgroupBroadcast(da, ${t}u) + lid);`
        : `let z${t} = 1.0;`,
    )}
    ${each((t) => `let pz${t} = p${t} * z${t};`)}
    ${each((t) => `let ds${t} = p${t} * (dp${t} * z${t} - subgroupBroadcast(md, ${t}u));`)}
    for (var c = 0u; c < D4; c++) {
      let qv = vec4<f32>(Q[mr + c]);
      let gv = vec4<f32>(dO[mr + c]);
      dv[c] = dv[c] + ${bsum((t) => `pz${t}`, "gv")};
      dk[c] = dk[c] + ${bsum((t) => `ds${t}`, "qv")};
    }
  }
  if (col < P.sk) {
    for (var c = 0u; c < D4; c++) {
      dK[kr + c] = ${vt}(dk[c] * P.scale);
      dV[kr + c] = ${vt}(dv[c]);
    }
  }
}`;
}

export function flashBackwardQSubgroupWGSL(c: FlashKernelConfig): string {
  const { head, consts, arr, each, bsum, vt, philox } = sgCommon(c);
  return `${head}
${declareBindings(
  [
    { name: "Q", type: vt, access: "read" },
    { name: "K", type: vt, access: "read" },
    { name: "Vv", type: vt, access: "read" },
    { name: "dO", type: vt, access: "read" },
    { name: "L", type: "f32", access: "read" },
    { name: "Dl", type: "f32", access: "read" },
    { name: "dQ", type: vt, access: "read_write" },
  ],
  FLASH_FIELDS,
)}
${philox}
${consts}
${sgHeader(c)}
  let row = wid.x * ${c.wg}u + lid;
  let r = min(row, P.sq - 1u);
  let qr = (bh * P.sq + r) * D4;
  ${arr("q")}
  ${arr("g")}
  ${arr("dq")}
  for (var c = 0u; c < D4; c++) {
    q[c] = vec4<f32>(Q[qr + c]) * P.qs;
    g[c] = vec4<f32>(dO[qr + c]);
    dq[c] = vec4<f32>(0.0);
  }
  let li = L[bh * P.sq + r];
  let di = Dl[bh * P.sq + r];
  let kb0 = bh * P.sk;
  let pbase = (bh * P.sq + r) * P.sk;
  for (var j0 = 0u; j0 < P.sk; j0 += KB) {
    let mr = (kb0 + min(j0 + sgid, P.sk - 1u)) * D4;
    ${each((t) => `var s${t} = 0.0; var dp${t} = 0.0;`)}
    for (var c = 0u; c < D4; c++) {
      let kv = vec4<f32>(K[mr + c]);
      let vv = vec4<f32>(Vv[mr + c]);
      let qc = q[c];
      let gc = g[c];
      ${each((t) => `s${t} = s${t} + dot(qc, subgroupBroadcast(kv, ${t}u)); dp${t} = dp${t} + dot(gc, subgroupBroadcast(vv, ${t}u));`, "\n      ")}
    }
    // Keys past the end contribute nothing.
    ${each((t) => `let p${t} = select(0.0, exp2(s${t} - li), j0 + ${t}u < P.sk);`)}
    ${c.dropout ? blockWords("pbase + j0") : ""}
    ${each((t) => `let ds${t} = p${t} * (dp${t}${c.dropout ? ` * keep_at(dw0, dw1, dw2, da + ${t}u)` : ""} - di);`)}
    for (var c = 0u; c < D4; c++) {
      let kv = vec4<f32>(K[mr + c]);
      dq[c] = dq[c] + ${bsum((t) => `ds${t}`, "kv")};
    }
  }
  if (row < P.sq) {
    for (var c = 0u; c < D4; c++) { dQ[qr + c] = ${vt}(dq[c] * P.scale); }
  }
}`;
}
