/**
 * WebAssembly SIMD kernels for Pillow-exact bilinear resampling of RGB images and for writing the CHW float
 * tensor. They compute exactly what resample.ts computes in JavaScript — the same 32-bit integer sums of the
 * same fixed-point weights, the same shift and clamp — four lanes at a time, which makes the two passes
 * several times faster than V8's scalar code. resample.ts falls back to JavaScript where SIMD is missing or
 * the case is unusual (one channel, very wide kernels).
 */
import { type Code, type FuncDef, I32, V128, assemble, op, v } from "./wasm.js";

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
/** Horizontal kernels are generated (fully unrolled) for these tap counts. */
export const MAX_SIMD_TAPS = 8;

const { get, set, tee, i32 } = op;

/**
 * hpassK(row, stride, rows, starts, weights, outW, dst): for each of `rows` rows starting at byte `row`, output
 * pixel xx is Σ_t weights[xx·K + t] · pixel(starts[xx] + 3t), per channel, shifted and clamped. One pixel's
 * three channels sit in lanes 0–2; lane 3 (the next pixel's red) is computed and discarded, and each store
 * writes 4 bytes of which the fourth is overwritten by the next pixel (so `dst` needs one byte of slack, and
 * reads reach up to 5 bytes past a row).
 */
function hpass(k: number): FuncDef {
  const [row, stride, rows, starts, weights, outW, dst] = [0, 1, 2, 3, 4, 5, 6];
  const [y, xx, p, wp, o, sp, acc] = [7, 8, 9, 10, 11, 12, 13];
  const taps: Code = [];
  for (let t = 0; t < k; t++) {
    taps.push(
      ...get(p),
      ...v.load8x8U(3 * t),
      ...v.i32x4ExtendLowI16x8U,
      ...get(wp),
      ...op.i32Load(4 * t),
      ...v.i32x4Splat,
      ...v.i32x4Mul,
      ...v.i32x4Add,
    );
  }
  // biome-ignore format: one line per WebAssembly statement, indented like the blocks it sits in
  const body: Code = [
    ...get(dst), ...set(o),
    ...i32(0), ...set(y),
    ...op.block, ...op.loop,
      ...get(y), ...get(rows), ...op.i32GeU, ...op.brIf(1),
      ...i32(0), ...set(xx), ...get(weights), ...set(wp), ...get(starts), ...set(sp),
      ...op.block, ...op.loop,
        ...get(xx), ...get(outW), ...op.i32GeU, ...op.brIf(1),
        ...get(row), ...get(sp), ...op.i32Load(0), ...op.i32Add, ...set(p),
        ...get(o),
        ...i32(HALF), ...v.i32x4Splat,
        ...taps,
        ...i32(PRECISION_BITS), ...v.i32x4ShrS,
        // Saturating narrows clamp to [0, 255] exactly like Pillow's clip8 (sums are never negative).
        ...tee(acc), ...get(acc), ...v.i16x8NarrowI32x4S,
        ...tee(acc), ...get(acc), ...v.i8x16NarrowI16x8U,
        ...v.store32Lane0(0),
        ...get(o), ...i32(3), ...op.i32Add, ...set(o),
        ...get(wp), ...i32(4 * k), ...op.i32Add, ...set(wp),
        ...get(sp), ...i32(4), ...op.i32Add, ...set(sp),
        ...get(xx), ...i32(1), ...op.i32Add, ...set(xx),
        ...op.br(0),
      ...op.end, ...op.end,
      ...get(row), ...get(stride), ...op.i32Add, ...set(row),
      ...get(y), ...i32(1), ...op.i32Add, ...set(y),
      ...op.br(0),
    ...op.end, ...op.end,
  ];
  return { name: `hpass${k}`, params: 7, locals: [I32, I32, I32, I32, I32, I32, V128], body };
}

/**
 * vpass(src, rowLen, starts, counts, weights, wstride, outH, dst): output row yy is Σ_i weights_yy[i] ·
 * row(starts[yy] + i·rowLen), 16 bytes at a time (so reads and writes may run up to 15 bytes past a row:
 * both buffers need that slack; a row's overrun is rewritten by the next row).
 */
function vpass(): FuncDef {
  const [src, rowLen, starts, counts, weights, wstride, outH, dst] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [yy, base, n, x, i, wp, q, o, wrow] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
  const [a0, a1, a2, a3, w, t] = [17, 18, 19, 20, 21, 22];
  // biome-ignore format: one WebAssembly statement
  const accumulate = (a: number, half: Code): Code => [
    ...half, ...get(w), ...v.i32x4Mul, ...get(a), ...v.i32x4Add, ...set(a),
  ];
  // biome-ignore format: one line per WebAssembly statement, indented like the blocks it sits in
  const body: Code = [
    ...i32(0), ...set(yy), ...get(dst), ...set(o), ...get(weights), ...set(wrow),
    ...op.block, ...op.loop,
      ...get(yy), ...get(outH), ...op.i32GeU, ...op.brIf(1),
      ...get(src), ...get(starts), ...op.i32Load(0), ...op.i32Add, ...set(base),
      ...get(counts), ...op.i32Load(0), ...set(n),
      ...i32(0), ...set(x),
      ...op.block, ...op.loop,
        ...get(x), ...get(rowLen), ...op.i32GeU, ...op.brIf(1),
        ...i32(HALF), ...v.i32x4Splat, ...tee(a0), ...tee(a1), ...tee(a2), ...set(a3),
        ...get(base), ...get(x), ...op.i32Add, ...set(q),
        ...get(wrow), ...set(wp),
        ...i32(0), ...set(i),
        ...op.block, ...op.loop,
          ...get(i), ...get(n), ...op.i32GeU, ...op.brIf(1),
          ...get(wp), ...op.i32Load(0), ...v.i32x4Splat, ...set(w),
          ...get(q), ...v.load8x8U(0), ...set(t),
          ...accumulate(a0, [...get(t), ...v.i32x4ExtendLowI16x8U]),
          ...accumulate(a1, [...get(t), ...v.i32x4ExtendHighI16x8U]),
          ...get(q), ...v.load8x8U(8), ...set(t),
          ...accumulate(a2, [...get(t), ...v.i32x4ExtendLowI16x8U]),
          ...accumulate(a3, [...get(t), ...v.i32x4ExtendHighI16x8U]),
          ...get(q), ...get(rowLen), ...op.i32Add, ...set(q),
          ...get(wp), ...i32(4), ...op.i32Add, ...set(wp),
          ...get(i), ...i32(1), ...op.i32Add, ...set(i),
          ...op.br(0),
        ...op.end, ...op.end,
        ...get(o), ...get(x), ...op.i32Add,
        ...get(a0), ...i32(PRECISION_BITS), ...v.i32x4ShrS,
        ...get(a1), ...i32(PRECISION_BITS), ...v.i32x4ShrS,
        ...v.i16x8NarrowI32x4S,
        ...get(a2), ...i32(PRECISION_BITS), ...v.i32x4ShrS,
        ...get(a3), ...i32(PRECISION_BITS), ...v.i32x4ShrS,
        ...v.i16x8NarrowI32x4S,
        ...v.i8x16NarrowI16x8U,
        ...v.store(0),
        ...get(x), ...i32(16), ...op.i32Add, ...set(x),
        ...op.br(0),
      ...op.end, ...op.end,
      ...get(o), ...get(rowLen), ...op.i32Add, ...set(o),
      ...get(wrow), ...get(wstride), ...op.i32Add, ...set(wrow),
      ...get(starts), ...i32(4), ...op.i32Add, ...set(starts),
      ...get(counts), ...i32(4), ...op.i32Add, ...set(counts),
      ...get(yy), ...i32(1), ...op.i32Add, ...set(yy),
      ...op.br(0),
    ...op.end, ...op.end,
  ];
  return {
    name: "vpass",
    params: 8,
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128, V128, V128],
    body,
  };
}

/**
 * tochw3(src, w, h, mirror, luts, dst): interleaved RGB bytes → three float planes through per-channel
 * 256-entry tables at `luts` (R, G, B consecutive), mirrored left to right when `mirror` is 1.
 */
function tochw3(): FuncDef {
  const [src, w, h, mirror, luts, dst] = [0, 1, 2, 3, 4, 5];
  const [y, x, p, step, plane4] = [6, 7, 8, 9, 10];
  // biome-ignore format: one WebAssembly statement
  const channel = (c: number, dstAddr: Code): Code => [
    ...dstAddr,
    ...get(luts), ...get(src), ...op.i32Load8u(c), ...i32(2), ...op.i32Shl, ...op.i32Add, ...op.f32Load(1024 * c),
    ...op.f32Store(0),
  ];
  // biome-ignore format: one line per WebAssembly statement, indented like the blocks it sits in
  const body: Code = [
    ...get(w), ...get(h), ...op.i32Mul, ...i32(2), ...op.i32Shl, ...set(plane4),
    // step = 4 − 8·mirror bytes: forwards, or backwards from the row's last pixel.
    ...i32(4), ...get(mirror), ...i32(8), ...op.i32Mul, ...op.i32Sub, ...set(step),
    ...i32(0), ...set(y),
    ...op.block, ...op.loop,
      ...get(y), ...get(h), ...op.i32GeU, ...op.brIf(1),
      ...get(dst),
      ...get(y), ...get(w), ...op.i32Mul, ...get(mirror), ...get(w), ...i32(1), ...op.i32Sub, ...op.i32Mul, ...op.i32Add,
      ...i32(2), ...op.i32Shl, ...op.i32Add, ...set(p),
      ...i32(0), ...set(x),
      ...op.block, ...op.loop,
        ...get(x), ...get(w), ...op.i32GeU, ...op.brIf(1),
        ...channel(0, get(p)),
        ...channel(1, [...get(p), ...get(plane4), ...op.i32Add]),
        ...channel(2, [...get(p), ...get(plane4), ...op.i32Add, ...get(plane4), ...op.i32Add]),
        ...get(src), ...i32(3), ...op.i32Add, ...set(src),
        ...get(p), ...get(step), ...op.i32Add, ...set(p),
        ...get(x), ...i32(1), ...op.i32Add, ...set(x),
        ...op.br(0),
      ...op.end, ...op.end,
      ...get(y), ...i32(1), ...op.i32Add, ...set(y),
      ...op.br(0),
    ...op.end, ...op.end,
  ];
  return { name: "tochw3", params: 6, locals: [I32, I32, I32, I32, I32], body };
}

type Fn = (...args: number[]) => void;

/*
 * The package compiles against ES2023 + Node types, which declare only part of the WebAssembly JS API; these
 * are the few members used here.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

export interface SimdKernels {
  memory: WasmMemory;
  /** hpass[k] for k in 1..MAX_SIMD_TAPS. */
  hpass: Fn[];
  vpass: Fn;
  tochw3: Fn;
}

let kernels: SimdKernels | null | undefined;
let enabled = true;

/** Switches the kernels off (or back on) in this thread; tests use it to compare with the JavaScript path. */
export function setSimdEnabled(on: boolean): void {
  enabled = on;
}

/**
 * The kernels, compiled once per thread on first use; null where WebAssembly SIMD is unavailable or
 * VIT_DATA_SIMD=0 (which exists to compare both paths).
 */
export function simdKernels(): SimdKernels | null {
  if (!enabled) return null;
  if (kernels !== undefined) return kernels;
  kernels = null;
  // `process` is Node's; in a browser the switch does not exist.
  if (!wasmApi || (typeof process !== "undefined" && process.env.VIT_DATA_SIMD === "0")) return null;
  try {
    const funcs = [vpass(), tochw3()];
    for (let k = 1; k <= MAX_SIMD_TAPS; k++) funcs.push(hpass(k));
    const bytes = assemble(funcs);
    if (!wasmApi.validate(bytes)) return null;
    const ex = new wasmApi.Instance(new wasmApi.Module(bytes)).exports;
    const hp: Fn[] = [];
    for (let k = 1; k <= MAX_SIMD_TAPS; k++) hp[k] = ex[`hpass${k}`] as Fn;
    kernels = {
      memory: ex.memory as WasmMemory,
      hpass: hp,
      vpass: ex.vpass as Fn,
      tochw3: ex.tochw3 as Fn,
    };
  } catch {
    kernels = null;
  }
  return kernels;
}

/** Grows the kernels' memory to at least `bytes`; returns its current buffer (views must be made after this). */
export function simdMemory(k: SimdKernels, bytes: number): ArrayBuffer {
  const have = k.memory.buffer.byteLength;
  if (have < bytes) k.memory.grow(Math.ceil((bytes - have) / 65536));
  return k.memory.buffer;
}
