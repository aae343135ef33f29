/**
 * Strided copies (permute, slice, concat, slice backward) made cheap on CPU adapters. The generic form —
 * one invocation per element, its source offset decoded from the output index with one division and one
 * modulo per dimension by uniform sizes — spends most of its time in integer division, which no x86
 * SIMD unit has (llvmpipe scalarises it: ~8 `div` per 8-lane chunk and dimension), and in per-element
 * loads. A tiny-ViT step ran ~100 ms of permutes/slices/zero-fills that way. Here:
 *  - adjacent dimensions that are contiguous in both layouts are merged (a head split is rank 3, not 5);
 *  - sizes are compile-time constants, so the compiler turns each division into a multiply and shift
 *    that vectorises (a pipeline per distinct shape: a training loop has a handful);
 *  - when the innermost run is contiguous and a multiple of 4, elements move as vec4, four per invocation;
 *  - a slice's backward writes the whole gradient in one pass (zeros outside the window) instead of a
 *    zero fill plus a scatter.
 */
import type { Device } from "../device.js";
import { declareBindings, grid1D } from "./wgsl.js";

/** Merges dimensions i, i+1 when stride[i] == stride[i+1]·shape[i+1]; drops size-1 dims. */
export function coalesce(
  shape: readonly number[],
  strides: readonly number[],
): { shape: number[]; strides: number[] } {
  const s: number[] = [];
  const t: number[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const last = s.length - 1;
    if (last >= 0 && t[last] === strides[i]! * d) {
      s[last] = s[last]! * d;
      t[last] = strides[i]!;
    } else {
      s.push(d);
      t.push(strides[i]!);
    }
  });
  if (!s.length) return { shape: [1], strides: [1] };
  return { shape: s, strides: t };
}

const PER = 4;
const WG = 64;

/** WGSL computing `off` (element offset through `strides`) for flat output unit index `i`. */
function decode(shape: readonly number[], strides: readonly number[]): string {
  let c = "var off = 0u; var rem = i;";
  for (let d = shape.length - 1; d >= 0; d--) {
    if (d === 0) c += ` off += rem * ${strides[d]}u;`;
    else c += ` { let c = rem % ${shape[d]}u; rem = rem / ${shape[d]}u; off += c * ${strides[d]}u; }`;
  }
  return c;
}

interface Layout {
  shape: number[];
  strides: number[];
  vec: boolean;
  units: number;
}

function layout(shape: readonly number[], strides: readonly number[], base: number): Layout {
  const c = coalesce(shape, strides);
  const r = c.shape.length;
  const vec =
    c.strides[r - 1] === 1 &&
    c.shape[r - 1]! % 4 === 0 &&
    base % 4 === 0 &&
    c.strides.slice(0, -1).every((x) => x % 4 === 0);
  if (vec) {
    const shapeV = c.shape.map((d, i) => (i === r - 1 ? d / 4 : d));
    const stridesV = c.strides.map((x, i) => (i === r - 1 ? 1 : x / 4));
    return { shape: shapeV, strides: stridesV, vec, units: shapeV.reduce((a, b) => a * b, 1) };
  }
  return { ...c, vec, units: c.shape.reduce((a, b) => a * b, 1) };
}

const FIELDS = [
  ["units", "u32"],
  ["base", "u32"],
  ["inv", "u32"],
] as const;

function body(l: Layout, ty: string, write: boolean): string {
  const el = l.vec ? `vec4<${ty}>` : ty;
  return `${declareBindings(
    [
      { name: "src", type: el, access: "read" },
      { name: "dst", type: el, access: "read_write" },
    ],
    FIELDS,
  )}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * ${WG}u;
  for (var j = 0u; j < ${PER}u; j++) {
    let i = idx + j * P.inv;
    if (i < P.units) {
      ${decode(l.shape, l.strides)}
      ${write ? "dst[P.base + off] = src[i];" : "dst[i] = src[P.base + off];"}
    }
  }
}`;
}

/** out[i] = src[base + Σ coord_d(i)·strides_d] for i over `shape` (out contiguous). */
export function stridedCopyKernel(
  device: Device,
  op: string,
  src: GPUBuffer,
  out: GPUBuffer,
  ty: string,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): void {
  const l = layout(shape, strides, base);
  const inv = Math.max(1, Math.ceil(l.units / PER));
  device.run({
    name: op,
    key: `strided_copy2|${ty}|${l.vec}|${l.shape}|${l.strides}`,
    code: () => body(l, ty, false),
    buffers: [src, out],
    uniforms: { fields: FIELDS, values: [l.units, l.vec ? base / 4 : base, inv] },
    workgroups: grid1D(inv, WG),
  });
}

/** dst[base + Σ coord_d(i)·strides_d] = src[i] for i over `shape` (src contiguous), in place on dst. */
export function stridedWriteKernel(
  device: Device,
  op: string,
  src: GPUBuffer,
  dst: GPUBuffer,
  ty: string,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): void {
  const l = layout(shape, strides, base);
  const inv = Math.max(1, Math.ceil(l.units / PER));
  device.run({
    name: op,
    key: `strided_write2|${ty}|${l.vec}|${l.shape}|${l.strides}`,
    code: () => body(l, ty, true),
    buffers: [src, dst],
    uniforms: { fields: FIELDS, values: [l.units, l.vec ? base / 4 : base, inv] },
    workgroups: grid1D(inv, WG),
  });
}

const PAD_FIELDS = [
  ["units", "u32"],
  ["start", "u32"],
  ["size", "u32"],
  ["inv", "u32"],
] as const;

/**
 * The gradient of a slice: dx viewed as [outer, dim, inner] gets g[o, d − start, i] inside the window
 * start ≤ d < start + size and 0 elsewhere, in one pass.
 */
export function sliceGradKernel(
  device: Device,
  g: GPUBuffer,
  dx: GPUBuffer,
  ty: string,
  outer: number,
  dim: number,
  inner: number,
  start: number,
  size: number,
): void {
  const vec = inner % 4 === 0;
  const w = vec ? inner / 4 : inner;
  const units = outer * dim * w;
  const inv = Math.max(1, Math.ceil(units / PER));
  const el = vec ? `vec4<${ty}>` : ty;
  device.run({
    name: "slice_backward",
    key: `slice_grad|${ty}|${vec}|${dim}|${w}`,
    code: () => `${declareBindings(
      [
        { name: "g", type: el, access: "read" },
        { name: "dx", type: el, access: "read_write" },
      ],
      PAD_FIELDS,
    )}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * ${WG}u;
  for (var j = 0u; j < ${PER}u; j++) {
    let i = idx + j * P.inv;
    if (i < P.units) {
      let c = i % ${w}u;
      let r = i / ${w}u;
      let d = r % ${dim}u;
      let o = r / ${dim}u;
      var v = ${el}();
      if (d >= P.start && d < P.start + P.size) { v = g[(o * P.size + (d - P.start)) * ${w}u + c]; }
      dx[i] = v;
    }
  }
}`,
    buffers: [g, dx],
    uniforms: { fields: PAD_FIELDS, values: [units, start, size, inv] },
    workgroups: grid1D(inv, WG),
  });
}
