import { defineKernel } from "./kernel.js";
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
 * Where the other side's rows come from (picked per adapter in ops/flash-attention.ts):
 * - "subgroup" (lavapipe): a workgroup is one subgroup per block; lane t loads row t of the block once
 *   and subgroupBroadcast hands it to every lane (see the comment above flashForwardSubgroupWGSL).
 * - "tiled" (GPUs): the workgroup first copies BC rows into workgroup memory cooperatively (each element
 *   read from global memory once per workgroup, coalesced), then every invocation reads the tile.
 * - "direct" (portable fallback: no subgroups, head dims not a multiple of 4): every invocation reads
 *   the block's rows from the storage buffer itself (the same address on every lane), no barriers.
 *   Correct everywhere, but on lavapipe each such read is a per-lane gather: ~4x slower than "subgroup".
 * D is either a compile-time constant (GPUs unroll the d loops and keep the arrays in registers) or a
 * uniform with arrays of DMAX (lavapipe: LLVM spends seconds per pipeline unrolling a constant D, and
 * one pipeline then serves every head dim up to DMAX).
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
import { PHILOX_WGSL } from "./philox.js";
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
  /** Rows owned per invocation ("subgroup"; 1 elsewhere). */
  rpl: number;
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
 * The loop over the other side (n rows from row `rowBase`) in blocks of KB rows starting at j0, with the
 * rows' element offsets r0..r{KB−1} defined (clamped to the last row) and, for "tiled", staged through
 * workgroup memory: `tiles` (tile ← source buffer, D per row) and `scalars` (one value per row).
 * `body` reads element d of block row t through `at()` and per-row values through `scalarAt()`.
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
function scalarAt(
  c: FlashKernelConfig,
  buf: string,
  tile: string,
  base: string,
  n: string,
  t: number,
): string {
  return c.variant === "direct" ? `${buf}[${base} + min(j0 + ${t}u, ${n} - 1u)]` : `${tile}[j0 - b0 + ${t}u]`;
}

function tileDecls(c: FlashKernelConfig, names: string[], scalars: string[] = []): string {
  if (c.variant !== "tiled") return "";
  const len = c.bc * (c.D > 0 ? c.D : c.dmax);
  return [
    ...names.map((n) => `var<workgroup> ${n}: array<f32, ${len}>;`),
    ...scalars.map((n) => `var<workgroup> ${n}: array<f32, ${c.bc}>;`),
  ].join("\n");
}

/**
 * Forward: o = softmax(q kᵀ · scale) (with dropout) · v and L = log-sum-exp per row (base 2).
 * Bindings: q, k, v, o, L.
 */
function flashForwardWGSL(c: FlashKernelConfig): string {
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
${blocks(
  c,
  "P.sk",
  "kb0",
  [
    ["kt", "K"],
    ["vt", "Vv"],
  ],
  [],
  body,
)}
  if (row < P.sq) {
    let inv = 1.0 / l;
    for (var d = 0u; d < DD; d++) { O[qr + d] = ${c.dtype}(o[d] * inv); }
    L[bh * P.sq + r] = m + log2(l);
  }
}`;
}

/** Δ_i = dO_i · O_i, one invocation per row (rows = BH·Sq, 1-D grid of 64). Bindings: o, dO, Δ. */
function flashDeltaWGSL(c: FlashKernelConfig): string {
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
function flashBackwardKVWGSL(c: FlashKernelConfig): string {
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
${blocks(
  c,
  "P.sq",
  "qb0",
  [
    ["qt", "Q"],
    ["gt", "dO"],
  ],
  [
    ["lt", "L"],
    ["dt", "Dl"],
  ],
  body,
)}
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
function flashBackwardQWGSL(c: FlashKernelConfig): string {
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
${blocks(
  c,
  "P.sk",
  "kb0",
  [
    ["kt", "K"],
    ["vt", "Vv"],
  ],
  [],
  body,
)}
  if (row < P.sq) {
    for (var d = 0u; d < DD; d++) { dQ[qr + d] = ${c.dtype}(dq[d] * P.scale); }
  }
}`;
}

/*
 * "subgroup" variant (lavapipe): every subgroup of KB lanes (8 there) owns KB·R rows (R per lane), and
 * each block of KB other-side rows is loaded once — lane t fetches row t of the block as vec4 chunks —
 * and handed to every lane with subgroupBroadcast, which llvmpipe turns into register shuffles. Reading
 * the same element from every lane instead costs a per-lane gather there (PERF-NOTES: divergent loads
 * ~2.2 G elem/s, broadcasts ~6.9 G vec4/s); measured 4-5x faster than "direct". Each broadcast chunk
 * then feeds R rows' dot products or updates, so R > 1 spends fewer loads and shuffles per multiply-add
 * (register blocking, as the texture matmul does with its 32-row tiles). Needs D % 4 == 0 (vec4 rows)
 * and a fixed subgroup size equal to KB; otherwise ops/flash-attention.ts uses "direct".
 */

function sgCommon(c: FlashKernelConfig) {
  const nc = c.D > 0 ? c.D / 4 : c.dmax / 4;
  const R = c.rpl;
  const vt = `vec4<${c.dtype}>`;
  const ts = seq(c.kb);
  const rs = seq(R);
  return {
    // Uniformity analysis cannot see that lid / KB is constant on an llvmpipe subgroup (see sgHeader),
    // so the broadcasts after the per-subgroup early return would be rejected without this.
    head: `${c.dtype === "f16" ? "enable f16;\n" : ""}enable subgroups;\ndiagnostic(off, subgroup_uniformity);`,
    consts: `const KB = ${c.kb}u;\nconst SPAN = ${c.kb * R}u;`,
    d4: c.D > 0 ? `${c.D / 4}u` : "(P.d / 4u)",
    arr: (name: string) => `var ${name}: array<vec4<f32>, ${nc}>;`,
    /** One line per block row t. */
    eachT: (f: (t: number) => string, sep = "\n    ") => ts.map(f).join(sep),
    /** One line per owned row r. */
    eachR: (f: (r: number) => string, sep = "\n    ") => rs.map(f).join(sep),
    /** One line per (owned row r, block row t). */
    eachRT: (f: (r: number, t: number) => string, sep = "\n    ") =>
      rs.flatMap((r) => ts.map((t) => f(r, t))).join(sep),
    /** Σ_t w(t) · b{t}: the block rows' broadcast chunks weighted for one owned row. */
    wsum: (w: (t: number) => string, b: string) => ts.map((t) => `${w(t)} * ${b}${t}`).join(" + "),
    /** The KB broadcasts of this lane's chunk `x` as b0 … b{KB−1}. */
    bcast: (b: string, x: string, sep = "\n      ") =>
      ts.map((t) => `let ${b}${t} = subgroupBroadcast(${x}, ${t}u);`).join(sep),
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

/** Lane-local words for the block starting at flat index `e0`: declares dw0_s … dw2_s and da_s. */
function blockWords(e0: string, s: number): string {
  return `let de0_${s} = ${e0};
    let da_${s} = de0_${s} & 3u;
    let dw0_${s} = philox_words(de0_${s} >> 2u);
    let dw1_${s} = philox_words((de0_${s} >> 2u) + 1u);
    let dw2_${s} = philox_words((de0_${s} >> 2u) + 2u);`;
}

/**
 * Subgroup-kernel prologue. Each of the wg / KB subgroups of a workgroup owns one span of KB·R rows
 * (lane l: rows blk0 + l, blk0 + KB + l, …); the spans are numbered densely over (batch·head, span), so
 * any batch·head count fits the 65,535 workgroups-per-dimension limit and a workgroup may hold several
 * subgroups (on lavapipe one per workgroup measured fastest). Defines bh, blk0 and D4; `rows` is the
 * owned side's length. A subgroup past the end returns as a whole.
 */
function sgHeader(c: FlashKernelConfig, rows: string): string {
  return `@compute @workgroup_size(${c.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sgid: u32) {
  // llvmpipe forms subgroups from consecutive invocations, so lid / KB is the same on a whole subgroup.
  let spans = (${rows} + SPAN - 1u) / SPAN;
  let n = (wid.x + wid.y * nwg.x) * ${c.wg / c.kb}u + lid / KB;
  let bh = n / spans;
  if (bh >= P.bh) { return; }
  let blk0 = (n % spans) * SPAN;
  let D4 = ${sgCommon(c).d4};`;
}

const maxOf = (xs: string[]): string => xs.reduceRight((acc, x) => (acc ? `max(${x}, ${acc})` : x), "");

function flashForwardSubgroupWGSL(c: FlashKernelConfig): string {
  const { head, consts, arr, eachT, eachR, eachRT, wsum, bcast, vt, philox } = sgCommon(c);
  const ts = seq(c.kb);
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
${sgHeader(c, "P.sq")}
  // Owned query rows; rows past the end compute on a clamped row (every lane takes part in the
  // broadcasts) and skip the store.
  ${eachR(
    (r) => `let row${r} = blk0 + ${r * c.kb}u + sgid;
  let qr${r} = (bh * P.sq + min(row${r}, P.sq - 1u)) * D4;
  let pbase${r} = (bh * P.sq + min(row${r}, P.sq - 1u)) * P.sk;
  ${arr(`q${r}`)}
  ${arr(`o${r}`)}
  var m${r} = -1.0e30;
  var l${r} = 0.0;`,
    "\n  ",
  )}
  for (var c = 0u; c < D4; c++) {
    ${eachR((r) => `q${r}[c] = vec4<f32>(Q[qr${r} + c]) * P.qs;\n    o${r}[c] = vec4<f32>(0.0);`)}
  }
  let kb0 = bh * P.sk;
  for (var j0 = 0u; j0 < P.sk; j0 += KB) {
    // This lane's share of the key block: row j0 + sgid.
    let mr = (kb0 + min(j0 + sgid, P.sk - 1u)) * D4;
    ${eachRT((r, t) => `var s${r}_${t} = 0.0;`, " ")}
    for (var c = 0u; c < D4; c++) {
      let kv = vec4<f32>(K[mr + c]);
      ${bcast("bk", "kv")}
      ${eachR((r) => `let qc${r} = q${r}[c];`, "\n      ")}
      ${eachRT((r, t) => `s${r}_${t} = s${r}_${t} + dot(qc${r}, bk${t});`, "\n      ")}
    }
    ${eachR(
      (r) => `// Row ${r}: keys past the end score −1e30 (exp2 makes that an exact 0); online softmax rescales
    // what was accumulated under the old running max once per block.
    ${eachT((t) => `s${r}_${t} = select(-1.0e30, s${r}_${t}, j0 + ${t}u < P.sk);`)}
    let mb${r} = max(m${r}, ${maxOf(ts.map((t) => `s${r}_${t}`))});
    let alpha${r} = exp2(m${r} - mb${r});
    m${r} = mb${r};
    ${eachT((t) => `let p${r}_${t} = exp2(s${r}_${t} - mb${r});`)}
    l${r} = l${r} * alpha${r} + ${eachT((t) => `p${r}_${t}`, " + ")};
    ${c.dropout ? blockWords(`pbase${r} + j0`, r) : ""}
    ${eachT((t) => `let z${r}_${t} = p${r}_${t}${c.dropout ? ` * keep_at(dw0_${r}, dw1_${r}, dw2_${r}, da_${r} + ${t}u)` : ""};`)}`,
    )}
    for (var c = 0u; c < D4; c++) {
      let vv = vec4<f32>(Vv[mr + c]);
      ${bcast("bv", "vv")}
      ${eachR((r) => `o${r}[c] = o${r}[c] * alpha${r} + ${wsum((t) => `z${r}_${t}`, "bv")};`, "\n      ")}
    }
  }
  ${eachR(
    (r) => `if (row${r} < P.sq) {
    let inv = 1.0 / l${r};
    for (var c = 0u; c < D4; c++) { O[qr${r} + c] = ${vt}(o${r}[c] * inv); }
    L[bh * P.sq + row${r}] = m${r} + log2(l${r});
  }`,
    "\n  ",
  )}
}`;
}

function flashBackwardKVSubgroupWGSL(c: FlashKernelConfig): string {
  const { head, consts, arr, eachT, eachR, eachRT, wsum, bcast, vt, philox } = sgCommon(c);
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
${sgHeader(c, "P.sk")}
  // Owned key rows (clamped for the loads; stores skip rows past the end).
  ${eachR(
    (r) => `let col${r} = blk0 + ${r * c.kb}u + sgid;
  let kr${r} = (bh * P.sk + min(col${r}, P.sk - 1u)) * D4;
  ${arr(`k${r}`)}
  ${arr(`v${r}`)}
  ${arr(`dk${r}`)}
  ${arr(`dv${r}`)}`,
    "\n  ",
  )}
  // k pre-scaled into base-2 score units; dK gets the natural scale at the end.
  for (var c = 0u; c < D4; c++) {
    ${eachR(
      (r) => `k${r}[c] = vec4<f32>(K[kr${r} + c]) * P.qs;
    v${r}[c] = vec4<f32>(Vv[kr${r} + c]);
    dk${r}[c] = vec4<f32>(0.0);
    dv${r}[c] = vec4<f32>(0.0);`,
    )}
  }
  let qb0 = bh * P.sq;
  for (var i0 = 0u; i0 < P.sq; i0 += KB) {
    // This lane's share of the query block: row i0 + sgid, with its L and Δ.
    let mi = qb0 + min(i0 + sgid, P.sq - 1u);
    let mr = mi * D4;
    ${eachRT((r, t) => `var s${r}_${t} = 0.0; var dp${r}_${t} = 0.0;`)}
    for (var c = 0u; c < D4; c++) {
      let qv = vec4<f32>(Q[mr + c]);
      let gv = vec4<f32>(dO[mr + c]);
      ${bcast("bq", "qv")}
      ${bcast("bg", "gv")}
      ${eachR((r) => `let kc${r} = k${r}[c];\n      let vc${r} = v${r}[c];`, "\n      ")}
      ${eachRT((r, t) => `s${r}_${t} = s${r}_${t} + dot(kc${r}, bq${t}); dp${r}_${t} = dp${r}_${t} + dot(vc${r}, bg${t});`, "\n      ")}
    }
    ${bcast("lt", "L[mi]", "\n    ")}
    ${bcast("dt", "Dl[mi]", "\n    ")}
    // Query rows past the end contribute nothing.
    ${eachRT((r, t) => `let p${r}_${t} = select(0.0, exp2(s${r}_${t} - lt${t}), i0 + ${t}u < P.sq);`)}
    // Dropout: lane t draws the words of query row i0 + t for this subgroup's keys; each lane then picks
    // its key's word from lane t's (the keys of one query row are consecutive flat indices).
    ${c.dropout ? eachR((r) => blockWords(`mi * P.sk + blk0 + ${r * c.kb}u`, r)) : ""}
    ${eachRT((r, t) =>
      c.dropout
        ? `let z${r}_${t} = keep_at(subgroupBroadcast(dw0_${r}, ${t}u), subgroupBroadcast(dw1_${r}, ${t}u), subgroupBroadcast(dw2_${r}, ${t}u), subgroupBroadcast(da_${r}, ${t}u) + sgid);`
        : `let z${r}_${t} = 1.0;`,
    )}
    ${eachRT((r, t) => `let pz${r}_${t} = p${r}_${t} * z${r}_${t};`)}
    ${eachRT((r, t) => `let ds${r}_${t} = p${r}_${t} * (dp${r}_${t} * z${r}_${t} - dt${t});`)}
    for (var c = 0u; c < D4; c++) {
      let qv = vec4<f32>(Q[mr + c]);
      let gv = vec4<f32>(dO[mr + c]);
      ${bcast("bq", "qv")}
      ${bcast("bg", "gv")}
      ${eachR((r) => `dv${r}[c] = dv${r}[c] + ${wsum((t) => `pz${r}_${t}`, "bg")};\n      dk${r}[c] = dk${r}[c] + ${wsum((t) => `ds${r}_${t}`, "bq")};`, "\n      ")}
    }
  }
  ${eachR(
    (r) => `if (col${r} < P.sk) {
    for (var c = 0u; c < D4; c++) {
      dK[kr${r} + c] = ${vt}(dk${r}[c] * P.scale);
      dV[kr${r} + c] = ${vt}(dv${r}[c]);
    }
  }`,
    "\n  ",
  )}
}`;
}

function flashBackwardQSubgroupWGSL(c: FlashKernelConfig): string {
  const { head, consts, arr, eachT, eachR, eachRT, wsum, bcast, vt, philox } = sgCommon(c);
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
${sgHeader(c, "P.sq")}
  ${eachR(
    (r) => `let row${r} = blk0 + ${r * c.kb}u + sgid;
  let rr${r} = bh * P.sq + min(row${r}, P.sq - 1u);
  let qr${r} = rr${r} * D4;
  let pbase${r} = rr${r} * P.sk;
  let li${r} = L[rr${r}];
  let di${r} = Dl[rr${r}];
  ${arr(`q${r}`)}
  ${arr(`g${r}`)}
  ${arr(`dq${r}`)}`,
    "\n  ",
  )}
  for (var c = 0u; c < D4; c++) {
    ${eachR(
      (r) => `q${r}[c] = vec4<f32>(Q[qr${r} + c]) * P.qs;
    g${r}[c] = vec4<f32>(dO[qr${r} + c]);
    dq${r}[c] = vec4<f32>(0.0);`,
    )}
  }
  let kb0 = bh * P.sk;
  for (var j0 = 0u; j0 < P.sk; j0 += KB) {
    let mr = (kb0 + min(j0 + sgid, P.sk - 1u)) * D4;
    ${eachRT((r, t) => `var s${r}_${t} = 0.0; var dp${r}_${t} = 0.0;`)}
    for (var c = 0u; c < D4; c++) {
      let kv = vec4<f32>(K[mr + c]);
      let vv = vec4<f32>(Vv[mr + c]);
      ${bcast("bk", "kv")}
      ${bcast("bv", "vv")}
      ${eachR((r) => `let qc${r} = q${r}[c];\n      let gc${r} = g${r}[c];`, "\n      ")}
      ${eachRT((r, t) => `s${r}_${t} = s${r}_${t} + dot(qc${r}, bk${t}); dp${r}_${t} = dp${r}_${t} + dot(gc${r}, bv${t});`, "\n      ")}
    }
    // Keys past the end contribute nothing.
    ${eachRT((r, t) => `let p${r}_${t} = select(0.0, exp2(s${r}_${t} - li${r}), j0 + ${t}u < P.sk);`)}
    ${c.dropout ? eachR((r) => blockWords(`pbase${r} + j0`, r)) : ""}
    ${eachRT(
      (r, t) =>
        `let ds${r}_${t} = p${r}_${t} * (dp${r}_${t}${c.dropout ? ` * keep_at(dw0_${r}, dw1_${r}, dw2_${r}, da_${r} + ${t}u)` : ""} - di${r});`,
    )}
    for (var c = 0u; c < D4; c++) {
      let kv = vec4<f32>(K[mr + c]);
      ${bcast("bk", "kv")}
      ${eachR((r) => `dq${r}[c] = dq${r}[c] + ${wsum((t) => `ds${r}_${t}`, "bk")};`, "\n      ")}
    }
  }
  ${eachR(
    (r) => `if (row${r} < P.sq) {
    for (var c = 0u; c < D4; c++) { dQ[qr${r} + c] = ${vt}(dq${r}[c] * P.scale); }
  }`,
    "\n  ",
  )}
}`;
}

/** The variant of every flash kernel is its FlashKernelConfig; the subgroup variant has kernels of its own. */
export const flashForwardKernel = defineKernel("flash_attention_fwd", (c: FlashKernelConfig) =>
  c.variant === "subgroup" ? flashForwardSubgroupWGSL(c) : flashForwardWGSL(c),
);
export const flashDeltaKernel = defineKernel("flash_attention_delta", flashDeltaWGSL);
export const flashBackwardKVKernel = defineKernel("flash_attention_dkv", (c: FlashKernelConfig) =>
  c.variant === "subgroup" ? flashBackwardKVSubgroupWGSL(c) : flashBackwardKVWGSL(c),
);
export const flashBackwardQKernel = defineKernel("flash_attention_dq", (c: FlashKernelConfig) =>
  c.variant === "subgroup" ? flashBackwardQSubgroupWGSL(c) : flashBackwardQWGSL(c),
);

/** Zeroes a buffer of u32 words (only for the degenerate case of no query rows). */
export const zeroWordsKernel = defineKernel(
  "zero_words",
  (_: Record<string, never>) => `@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i < arrayLength(&x)) { x[i] = 0u; }
}`,
);
