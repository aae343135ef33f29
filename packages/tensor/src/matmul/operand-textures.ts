/**
 * Textures that hold matmul operands for the texture kernel (kernels/texture.ts), and the dispatch of the
 * pack kernel (kernels/pack.ts) that fills them when an operand cannot simply be copied in.
 *
 * One texture per (device, role, format) is reused by every matmul: commands run in recording order, so
 * refilling the A texture for the next matmul cannot disturb the previous one. A texture only grows
 * (to the next power of two rows); an outgrown one stays alive because recorded, unsubmitted commands
 * may still reference it (destroying it would fail their submit), and is freed with the device.
 */
import type { Device } from "../device.js";
import { grid1D } from "../kernels/wgsl.js";
import { PACK_FIELDS, packOperandKernel } from "./kernels/pack.js";
import { type OperandFormat, TEX_WIDTH } from "./kernels/texture.js";

export type OperandRole = "A" | "B";

export interface OperandTexture {
  texture: GPUTexture;
  view: GPUTextureView;
  format: OperandFormat;
}

interface Pool {
  textures: Map<string, OperandTexture>;
  retired: GPUTexture[];
}

const pools = new WeakMap<Device, Pool>();

/** Largest operand (in texels) a texture can hold on this device. */
export function maxOperandTexels(device: Device): number {
  return TEX_WIDTH * Math.min(device.limits.maxTextureDimension2D, 1 << 16);
}

/** A texture of `format` with room for `texels` texels, for operand `role`. */
export function operandTexture(
  device: Device,
  role: OperandRole,
  format: OperandFormat,
  texels: number,
): OperandTexture {
  let pool = pools.get(device);
  if (!pool) {
    pool = { textures: new Map(), retired: [] };
    pools.set(device, pool);
  }
  const key = `${role}|${format}`;
  const rows = Math.max(1, Math.ceil(texels / TEX_WIDTH));
  const have = pool.textures.get(key);
  if (have && have.texture.height >= rows) return have;
  if (have) pool.retired.push(have.texture);
  const height = Math.min(device.limits.maxTextureDimension2D, Math.max(16, 2 ** Math.ceil(Math.log2(rows))));
  // Storage binding for both formats: the pack kernel writes rgba32float ones, and the matmul reads either
  // as a read-only storage texture where the WGSL extension exists (kernels/texture.ts).
  const usage = GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.STORAGE_BINDING;
  const texture = device.gpu.createTexture({
    size: [TEX_WIDTH, height, 1],
    format,
    usage,
    label: `matmul-${key}`,
  });
  const entry = { texture, view: texture.createView(), format };
  pool.textures.set(key, entry);
  return entry;
}

export interface PackSpec {
  /** Matrices to pack (1 when the operand is shared across the batch). */
  batches: number;
  rows: number;
  cols: number;
  /** Source element strides: of a row, of a column, of a batch matrix. */
  rowStride: number;
  colStride: number;
  batchStride: number;
}

/**
 * Writes `src` (f32 or f16 elements) into `dst` (rgba32float) as row-major rows of ceil(cols/4) texels,
 * zero-padded: the texture kernel's "row" layout for any source layout, shape or alignment.
 */
export function packOperand(
  device: Device,
  src: GPUBuffer,
  srcType: "f32" | "f16",
  dst: GPUTextureView,
  s: PackSpec,
): void {
  const c4 = Math.ceil(s.cols / 4);
  const total = s.batches * s.rows * c4;
  device.run({
    name: "matmul_pack",
    kernel: packOperandKernel,
    variant: { srcType },
    buffers: [src],
    views: [dst],
    uniforms: {
      fields: PACK_FIELDS,
      values: [total, c4, s.rows, s.cols, s.rowStride, s.colStride, s.batchStride],
    },
    workgroups: grid1D(total),
  });
}
