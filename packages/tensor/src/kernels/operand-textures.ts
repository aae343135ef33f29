/**
 * Textures that hold matmul operands for the texture kernel (matmul-texture.ts), and the pack kernel
 * that fills them when an operand cannot simply be copied in.
 *
 * One texture per (device, role, format) is reused by every matmul: commands run in recording order, so
 * refilling the A texture for the next matmul cannot disturb the previous one. A texture only grows
 * (to the next power of two rows); an outgrown one stays alive because recorded, unsubmitted commands
 * may still reference it (destroying it would fail their submit), and is freed with the device.
 */
import type { Device } from "../device.js";
import { TEX_WIDTH, TEX_WIDTH_LOG2 } from "./matmul-texture.js";
import { grid1D, main1D } from "./wgsl.js";

export type OperandRole = "A" | "B";
export type OperandFormat = "rgba32float" | "rgba16float";

interface Pool {
  textures: Map<string, { texture: GPUTexture; view: GPUTextureView }>;
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
): { texture: GPUTexture; view: GPUTextureView } {
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
  const usage =
    GPUTextureUsage.TEXTURE_BINDING |
    GPUTextureUsage.COPY_DST |
    (format === "rgba32float" ? GPUTextureUsage.STORAGE_BINDING : 0);
  const texture = device.gpu.createTexture({
    size: [TEX_WIDTH, height, 1],
    format,
    usage,
    label: `matmul-${key}`,
  });
  const entry = { texture, view: texture.createView() };
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

const PACK_FIELDS = [
  ["total", "u32"],
  ["c4", "u32"],
  ["rows", "u32"],
  ["cols", "u32"],
  ["rs", "u32"],
  ["cs", "u32"],
  ["bs", "u32"],
] as const;

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
    key: `matmul_pack|${srcType}`,
    code: () => `${srcType === "f16" ? "enable f16;" : ""}
struct Params { ${PACK_FIELDS.map(([n, t]) => `${n}: ${t},`).join(" ")} }
@group(0) @binding(0) var<storage, read> S: array<${srcType}>;
@group(0) @binding(1) var T: texture_storage_2d<rgba32float, write>;
@group(0) @binding(2) var<uniform> P: Params;
${main1D()}
  if (idx >= P.total) { return; }
  let c4 = idx % P.c4;
  let r = idx / P.c4;
  let base = (r / P.rows) * P.bs + (r % P.rows) * P.rs;
  var v = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) {
    let c = c4 * 4u + e;
    if (c < P.cols) { v[e] = f32(S[base + c * P.cs]); }
  }
  textureStore(T, vec2u(idx & ${TEX_WIDTH - 1}u, idx >> ${TEX_WIDTH_LOG2}u), v);
}`,
    buffers: [src],
    views: [dst],
    uniforms: {
      fields: PACK_FIELDS,
      values: [total, c4, s.rows, s.cols, s.rowStride, s.colStride, s.batchStride],
    },
    workgroups: grid1D(total),
  });
}
