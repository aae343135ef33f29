/**
 * Running the texture kernel (kernels/texture.ts): each operand reaches its texture by a plain copy when
 * its layout allows, by the pack kernel otherwise, then one dispatch computes the product.
 */
import type { Device } from "../device.js";
import type { Tensor } from "../tensor.js";
import { type MatmulTuning, fixedSubgroupSize } from "./config.js";
import type { EpilogueSpec } from "./kernels/epilogue.js";
import { type OperandMode, TEXTURE_MATMUL_FIELDS, textureMatmulKernel } from "./kernels/texture.js";
import { maxOperandTexels, operandTexture, packOperand } from "./operand-textures.js";
import type { Plan } from "./plan.js";

/**
 * How an operand reaches its texture: copied as is (its contiguous dimension is a multiple of 4, so its
 * texels are whole rows of the layout the kernel reads) or packed by a small kernel into the "row"
 * layout, zero-padded (any shape; also what a ragged K needs, see kernels/texture.ts).
 */
interface OperandPlan {
  mode: OperandMode;
  copy: boolean;
  /** Texels per layout row, and per batch matrix (0 when shared across the batch). */
  row: number;
  batchTexels: number;
  texels: number;
}

function planA(p: Plan, transA: boolean, batches: number): OperandPlan {
  const { M, K } = p;
  const K4 = Math.ceil(K / 4);
  if (!transA && K % 4 === 0)
    return { mode: "row", copy: true, row: K / 4, batchTexels: M * K4, texels: batches * M * K4 };
  if (transA && M % 4 === 0 && K % 4 === 0)
    return { mode: "col", copy: true, row: M / 4, batchTexels: K * (M / 4), texels: batches * K * (M / 4) };
  return { mode: "row", copy: false, row: K4, batchTexels: M * K4, texels: batches * M * K4 };
}

function planB(p: Plan, transB: boolean, batches: number): OperandPlan {
  const { N, K } = p;
  const N4 = Math.ceil(N / 4);
  if (!transB && N % 4 === 0)
    return { mode: "row", copy: true, row: N / 4, batchTexels: K * (N / 4), texels: batches * K * (N / 4) };
  if (transB && K % 4 === 0)
    return { mode: "col", copy: true, row: K / 4, batchTexels: N * (K / 4), texels: batches * N * (K / 4) };
  return { mode: "row", copy: false, row: N4, batchTexels: K * N4, texels: batches * K * N4 };
}

export function textureFits(device: Device, p: Plan, transA: boolean, transB: boolean): boolean {
  if (!fixedSubgroupSize(device)) return false;
  const max = maxOperandTexels(device);
  const na = p.sa ? p.batch : 1;
  const nb = p.sb ? p.batch : 1;
  return planA(p, transA, na).texels <= max && planB(p, transB, nb).texels <= max;
}

export function runTexture(
  device: Device,
  a: Tensor,
  b: Tensor,
  p: Plan,
  transA: boolean,
  transB: boolean,
  epilogue: EpilogueSpec,
  epiBuffers: GPUBuffer[],
  alpha: number,
  tuning: MatmulTuning,
): void {
  const sg = fixedSubgroupSize(device)!;
  // Short products (attention's 17-row matrices) get a tile no taller than they are.
  const rows = Math.max(sg, Math.min(Math.ceil(tuning.rows / sg) * sg, Math.ceil(p.M / sg) * sg));
  const na = p.sa ? p.batch : 1;
  const nb = p.sb ? p.batch : 1;
  const pa = planA(p, transA, na);
  const pb = planB(p, transB, nb);
  const f16 = a.dtype === "f16";
  const texA = operandTexture(device, "A", pa.copy && f16 ? "rgba16float" : "rgba32float", pa.texels);
  const texB = operandTexture(device, "B", pb.copy && f16 ? "rgba16float" : "rgba32float", pb.texels);
  const dtype = a.dtype as "f32" | "f16";
  if (pa.copy) device.copyToTexture(a.buffer, 0, texA.texture, pa.texels);
  else {
    packOperand(device, a.buffer, dtype, texA.view, {
      batches: na,
      rows: p.M,
      cols: p.K,
      rowStride: transA ? 1 : p.K,
      colStride: transA ? p.M : 1,
      batchStride: p.M * p.K,
    });
  }
  if (pb.copy) device.copyToTexture(b.buffer, 0, texB.texture, pb.texels);
  else {
    packOperand(device, b.buffer, dtype, texB.view, {
      batches: nb,
      rows: p.K,
      cols: p.N,
      rowStride: transB ? 1 : p.N,
      colStride: transB ? p.K : 1,
      batchStride: p.K * p.N,
    });
  }
  const storageRead = device.adapter.wgslLanguageFeatures?.includes(
    "readonly_and_readwrite_storage_textures",
  );
  const read = storageRead ? { a: texA.format, b: texB.format } : ("sampled" as const);
  const v = { aMode: pa.mode, bMode: pb.mode, rows, sg, epilogue, read };
  device.run({
    name: "matmul",
    tag: () =>
      `matmul ${p.batch > 1 ? `${p.batch}×` : ""}${p.M}×${p.N}×${p.K} ${pa.mode[0]}${pb.mode[0]}${pa.copy ? "" : " packA"}${pb.copy ? "" : " packB"}`,
    kernel: textureMatmulKernel,
    variant: v,
    buffers: epiBuffers,
    views: [texA.view, texB.view],
    uniforms: {
      fields: TEXTURE_MATMUL_FIELDS,
      values: [
        p.M,
        p.N,
        p.K,
        Math.ceil(p.K / 4),
        pa.row,
        na > 1 ? pa.batchTexels : 0,
        pb.row,
        nb > 1 ? pb.batchTexels : 0,
        p.M * p.N,
        alpha,
      ],
    },
    workgroups: [Math.ceil(Math.ceil(p.N / 4) / sg), Math.ceil(p.M / rows), p.batch],
  });
}
