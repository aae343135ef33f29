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
 * The kernels are in kernels/strided-copy.ts.
 */
import type { Device } from "../device.js";
import {
  SLICE_GRAD_FIELDS,
  STRIDED_FIELDS,
  STRIDED_PER,
  STRIDED_WG,
  sliceGradKernel,
  stridedCopyKernel,
} from "../kernels/strided-copy.js";
import { grid1D } from "../kernels/wgsl.js";

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

function runStrided(
  device: Device,
  op: string,
  src: GPUBuffer,
  dst: GPUBuffer,
  type: string,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
  write: boolean,
): void {
  const l = layout(shape, strides, base);
  const inv = Math.max(1, Math.ceil(l.units / STRIDED_PER));
  device.run({
    name: op,
    kernel: stridedCopyKernel,
    variant: { type, vec: l.vec, shape: l.shape, strides: l.strides, write },
    buffers: [src, dst],
    uniforms: { fields: STRIDED_FIELDS, values: [l.units, l.vec ? base / 4 : base, inv] },
    workgroups: grid1D(inv, STRIDED_WG),
  });
}

/** out[i] = src[base + Σ coord_d(i)·strides_d] for i over `shape` (out contiguous). */
export function stridedCopyInto(
  device: Device,
  op: string,
  src: GPUBuffer,
  out: GPUBuffer,
  type: string,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): void {
  runStrided(device, op, src, out, type, shape, strides, base, false);
}

/** dst[base + Σ coord_d(i)·strides_d] = src[i] for i over `shape` (src contiguous), in place on dst. */
export function stridedWriteFrom(
  device: Device,
  op: string,
  src: GPUBuffer,
  dst: GPUBuffer,
  type: string,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): void {
  runStrided(device, op, src, dst, type, shape, strides, base, true);
}

/**
 * The gradient of a slice: dx viewed as [outer, dim, inner] gets g[o, d − start, i] inside the window
 * start ≤ d < start + size and 0 elsewhere, in one pass.
 */
export function sliceGrad(
  device: Device,
  g: GPUBuffer,
  dx: GPUBuffer,
  type: string,
  outer: number,
  dim: number,
  inner: number,
  start: number,
  size: number,
): void {
  const vec = inner % 4 === 0;
  const w = vec ? inner / 4 : inner;
  const units = outer * dim * w;
  const inv = Math.max(1, Math.ceil(units / STRIDED_PER));
  device.run({
    name: "slice_backward",
    kernel: sliceGradKernel,
    variant: { type, vec, dim, w },
    buffers: [g, dx],
    uniforms: { fields: SLICE_GRAD_FIELDS, values: [units, start, size, inv] },
    workgroups: grid1D(inv, STRIDED_WG),
  });
}
