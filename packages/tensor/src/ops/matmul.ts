/**
 * Matrix multiplication with transposed operands, batching, broadcasting of a 2-D operand over a batch,
 * and a fused epilogue: C = act(alpha·op(A)·op(B) + bias) + residual in one dispatch (a Linear layer,
 * Linear+GELU of an MLP, and the residual add after a projection are each one kernel, not two or three).
 *
 * The kernel is chosen per adapter (kernels/matmul-config.ts): the texture kernel on CPU adapters
 * (lavapipe), the subgroup-matrix kernel where that feature exists, the shared-memory tiled kernel on
 * other GPUs, and the generic one as the fallback for whatever the others do not cover.
 */
import { noGrad } from "../autograd.js";
import type { Device } from "../device.js";
import { DTypeError, ShapeError, fmtShape } from "../errors.js";
import { requireFloat, sameDevice } from "../checks.js";
import {
  type MatmulKernelKind,
  type MatmulTuning,
  fixedSubgroupSize,
  matmulTuning,
  shapeClass,
} from "../kernels/matmul-config.js";
import type { EpilogueSpec, MatmulActivation } from "../kernels/matmul-epilogue.js";
import { MATMUL_FIELDS, genericMatmulKey, matmulGenericWGSL } from "../kernels/matmul-generic.js";
import { SGMAT_FIELDS, subgroupMatrixKey, subgroupMatrixWGSL } from "../kernels/matmul-subgroup-matrix.js";
import {
  type OperandMode,
  TEXTURE_MATMUL_FIELDS,
  textureMatmulKey,
  textureMatmulWGSL,
} from "../kernels/matmul-texture.js";
import { TILE, TILED_MATMUL_FIELDS, tiledMatmulKey, tiledMatmulWGSL } from "../kernels/matmul-tiled.js";
import { maxOperandTexels, operandTexture, packOperand } from "../kernels/operand-textures.js";
import { Tensor } from "../tensor.js";
import { cast } from "./cast.js";
import { elementwise } from "./elementwise-kernel.js";
import { subgroupMatrixFor } from "./matmul-subgroup.js";
import { sumTo } from "./reduce.js";

export type { MatmulActivation } from "../kernels/matmul-epilogue.js";

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Added to every row of the result: shape [N]. */
  bias?: Tensor;
  /** Scales A·B before the bias. */
  alpha?: number;
  /** Applied after the bias (fused): "gelu" (erf, timm/Megatron), "gelu_tanh", "relu". */
  activation?: MatmulActivation;
  /** Added after the activation (fused residual connection): same shape as the result. */
  residual?: Tensor;
}

interface Plan {
  M: number;
  N: number;
  K: number;
  batch: number;
  sa: number;
  sb: number;
  outShape: number[];
}

function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  const fail = (why: string) =>
    new ShapeError(
      `matmul: cannot multiply ${fmtShape(a.shape)}${transA ? "ᵀ" : ""} by ${fmtShape(b.shape)}${transB ? "ᵀ" : ""}: ${why}`,
    );
  if (a.rank < 2 || b.rank < 2)
    throw fail("both operands need at least 2 dimensions (use reshape for vectors).");
  const [ar, ac] = [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [br, bc] = [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) throw fail(`inner dimensions differ (${K} vs ${Kb}).`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const na = aBatch.reduce((x, y) => x * y, 1);
  const nb = bBatch.reduce((x, y) => x * y, 1);
  // A batch of A against one B: fold the batch into M when A is not transposed (one big GEMM).
  if (nb === 1 && !transA && b.rank === 2) {
    return { M: M * na, N, K, batch: 1, sa: 0, sb: 0, outShape: [...aBatch, M, N] };
  }
  if (na !== nb && na !== 1 && nb !== 1)
    throw fail(`batch dimensions ${fmtShape(aBatch)} and ${fmtShape(bBatch)} differ.`);
  if (na > 1 && nb > 1 && aBatch.join() !== bBatch.join())
    throw fail(`batch dimensions ${fmtShape(aBatch)} and ${fmtShape(bBatch)} differ.`);
  const batch = Math.max(na, nb);
  if (batch > 65535) throw fail(`batch ${batch} exceeds 65535; reshape into fewer, larger matrices.`);
  return {
    M,
    N,
    K,
    batch,
    sa: na === 1 ? 0 : M * K,
    sb: nb === 1 ? 0 : K * N,
    outShape: [...(na >= nb ? aBatch : bBatch), M, N],
  };
}

let forcedKernel: MatmulKernelKind | null = null;
let forcedTuning: Partial<MatmulTuning> | null = null;
let autocast: "f16" | null = null;

/** Tests and benchmarks: run every matmul with `kind` (null restores per-adapter selection). */
export function setMatmulKernelOverride(kind: MatmulKernelKind | null): void {
  forcedKernel = kind;
}

/** Autotune: try tile parameters without touching the cache (null restores them). */
export function setMatmulTuningOverride(t: Partial<MatmulTuning> | null): void {
  forcedTuning = t;
}

/**
 * Mixed precision for f32 matmuls, as torch.autocast does for matmul: "f16" casts both f32 operands to
 * f16 and multiplies them with the f16 kernel (tiled or subgroup-matrix; f32 accumulation and f32
 * result), which is where GPUs have their f16 throughput. Has no effect on CPU adapters, where f16
 * arithmetic is emulated and slower (PERF-NOTES.md), or without shader-f16. null turns it off.
 */
export function setMatmulAutocast(dtype: "f16" | null): void {
  autocast = dtype;
}

/** The kernel `matmul` would run for these operands (for benchmarks and reports). */
export function matmulKernelFor(a: Tensor, b: Tensor, opts: MatmulOptions = {}): MatmulKernelKind {
  const p = plan(a, b, !!opts.transA, !!opts.transB);
  return choose(a.device, p, !!opts.transA, !!opts.transB, a.dtype as "f32" | "f16").kind;
}

interface Choice {
  kind: MatmulKernelKind;
  tuning: MatmulTuning;
}

function choose(device: Device, p: Plan, transA: boolean, transB: boolean, dtype: "f32" | "f16"): Choice {
  const base = matmulTuning(device, shapeClass(p.M, p.N));
  const tuning = forcedTuning ? { ...base, ...forcedTuning } : base;
  const want = forcedKernel ?? tuning.kind;
  if (want === "texture" && textureFits(device, p, transA, transB)) return { kind: "texture", tuning };
  if (want === "subgroup-matrix" && subgroupMatrixFor(device, p, dtype))
    return { kind: "subgroup-matrix", tuning };
  if (want === "tiled" || want === "subgroup-matrix") return { kind: "tiled", tuning };
  // The texture kernel could not take this product (texture limits, no fixed subgroup size): on a CPU
  // adapter the generic kernel is the faster of the storage-buffer ones.
  return { kind: "generic", tuning };
}

export interface MatmulKernelOptions extends MatmulOptions {
  /** Also return the pre-activation (alpha·A·B + bias), for the activation's backward. */
  savePre?: boolean;
  /**
   * f16 operands, f32 result (bias, residual and epilogue in f32): the mixed-precision GEMM. Only for the
   * storage kernels (see f16OperandKernel); the caller widens the operands for the others.
   */
  outF32?: boolean;
}

/** Whether f16 operands can go straight into this adapter's kernel for the product, with an f32 result. */
export function f16OperandKernel(a: Tensor, b: Tensor, opts: MatmulOptions = {}): boolean {
  if (!a.device.hasFeature("shader-f16")) return false;
  const p = plan(a, b, !!opts.transA, !!opts.transB);
  const kind = choose(a.device, p, !!opts.transA, !!opts.transB, "f16").kind;
  return kind === "tiled" || kind === "subgroup-matrix";
}

/** The raw kernel call (no autograd). With `savePre` and an activation, `pre` holds the pre-activation. */
export function matmulKernelWithPre(
  a: Tensor,
  b: Tensor,
  opts: MatmulKernelOptions = {},
): { out: Tensor; pre: Tensor | null } {
  const extra = [...(opts.bias ? [opts.bias] : []), ...(opts.residual ? [opts.residual] : [])];
  const device = sameDevice("matmul", a, b, ...extra);
  requireFloat("matmul", a);
  requireFloat("matmul", b);
  if (a.dtype !== b.dtype || (a.dtype !== "f32" && a.dtype !== "f16")) {
    throw new DTypeError(
      `matmul: operands ${a.describe()} and ${b.describe()} must both be f32 or both f16; cast one (bf16 is a storage type: cast to f32 first).`,
    );
  }
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const p = plan(a, b, transA, transB);
  const mixed = !!opts.outF32 && a.dtype === "f16";
  const dtype: "f32" | "f16" = mixed ? "f32" : (a.dtype as "f32" | "f16");
  if (opts.bias && (opts.bias.rank !== 1 || opts.bias.shape[0] !== p.N || opts.bias.dtype !== dtype)) {
    throw new ShapeError(
      `matmul: bias ${opts.bias.describe()} must be [${p.N}] ${dtype} (one value per output column).`,
    );
  }
  if (opts.residual && (opts.residual.shape.join() !== p.outShape.join() || opts.residual.dtype !== dtype)) {
    throw new ShapeError(
      `matmul: residual ${opts.residual.describe()} must be ${fmtShape(p.outShape)} ${dtype} (the result's shape).`,
    );
  }
  const activation = opts.activation ?? "none";
  const savePre = !!opts.savePre && activation !== "none";
  const epilogue: EpilogueSpec = {
    bias: !!opts.bias,
    activation,
    residual: !!opts.residual,
    savePre,
    dtype,
    vec: p.N % 4 === 0,
  };
  const out = new Tensor(device, p.outShape, dtype);
  const pre = savePre ? new Tensor(device, p.outShape, dtype) : null;
  const epiBuffers = [
    ...(opts.bias ? [opts.bias.buffer] : []),
    ...(opts.residual ? [opts.residual.buffer] : []),
    out.buffer,
    ...(pre ? [pre.buffer] : []),
  ];
  const alpha = opts.alpha ?? 1;
  if (p.M * p.N * p.batch === 0) return { out, pre };
  if (mixed) {
    const c16 = choose(device, p, transA, transB, "f16");
    if (c16.kind !== "tiled" && c16.kind !== "subgroup-matrix")
      throw new DTypeError(
        "matmul: f16 operands with an f32 result need the tiled or subgroup-matrix kernel (see f16OperandKernel).",
      );
    runStorageKernel(device, c16, a, b, p, transA, transB, "f16", epilogue, epiBuffers, alpha);
    return { out, pre };
  }
  const choice = choose(device, p, transA, transB, dtype);
  if (
    autocast === "f16" &&
    dtype === "f32" &&
    device.hasFeature("shader-f16") &&
    (choice.kind === "tiled" || choice.kind === "subgroup-matrix")
  ) {
    const c16 = choose(device, p, transA, transB, "f16");
    const a16 = castTo(a, "f16");
    const b16 = castTo(b, "f16");
    runStorageKernel(device, c16, a16, b16, p, transA, transB, "f16", epilogue, epiBuffers, alpha);
    a16.dispose();
    b16.dispose();
    return { out, pre };
  }
  if (choice.kind === "texture") {
    runTexture(device, a, b, p, transA, transB, epilogue, epiBuffers, alpha, choice.tuning);
  } else {
    runStorageKernel(device, choice, a, b, p, transA, transB, dtype, epilogue, epiBuffers, alpha);
  }
  return { out, pre };
}

/** The kernels that read A and B straight from their storage buffers (subgroup-matrix, tiled, generic). */
function runStorageKernel(
  device: Device,
  choice: Choice,
  a: Tensor,
  b: Tensor,
  p: Plan,
  transA: boolean,
  transB: boolean,
  inType: "f32" | "f16",
  epilogue: EpilogueSpec,
  epiBuffers: GPUBuffer[],
  alpha: number,
): void {
  const dtype = inType;
  switch (choice.kind === "texture" ? "generic" : choice.kind) {
    case "subgroup-matrix": {
      const sm = subgroupMatrixFor(device, p, dtype)!;
      const v = {
        transA,
        transB,
        shape: sm.shape,
        tm: choice.tuning.tm,
        tn: choice.tuning.tn,
        sg: sm.sg,
        syntax: sm.syntax,
        epilogue,
      };
      device.run({
        name: "matmul",
        key: subgroupMatrixKey(v),
        code: () => subgroupMatrixWGSL(v),
        buffers: [a.buffer, b.buffer, ...epiBuffers],
        uniforms: { fields: SGMAT_FIELDS, values: [p.M, p.N, p.K, p.sa, p.sb, p.M * p.N, alpha] },
        workgroups: [Math.ceil(p.N / (v.tn * sm.shape.N)), Math.ceil(p.M / (v.tm * sm.shape.M)), p.batch],
      });
      break;
    }
    case "tiled": {
      const v = { transA, transB, inType, tk: choice.tuning.tk, epilogue };
      device.run({
        name: "matmul",
        key: tiledMatmulKey(v),
        code: () => tiledMatmulWGSL(v),
        buffers: [a.buffer, b.buffer, ...epiBuffers],
        uniforms: { fields: TILED_MATMUL_FIELDS, values: [p.M, p.N, p.K, p.sa, p.sb, p.M * p.N, alpha] },
        workgroups: [Math.ceil(p.N / TILE), Math.ceil(p.M / TILE), p.batch],
      });
      break;
    }
    case "generic": {
      const v = { transA, transB, dtype: inType, epilogue };
      device.run({
        name: "matmul",
        key: genericMatmulKey(v),
        code: () => matmulGenericWGSL(v),
        buffers: [a.buffer, b.buffer, ...epiBuffers],
        uniforms: { fields: MATMUL_FIELDS, values: [p.M, p.N, p.K, p.sa, p.sb, p.M * p.N, alpha] },
        workgroups: [Math.ceil(p.N / 32), Math.ceil(p.M / 32), p.batch],
      });
      break;
    }
  }
}

function castTo(t: Tensor, dtype: "f16"): Tensor {
  return noGrad(() => cast(t, dtype));
}

/** The raw kernel call (no autograd). */
export function matmulKernel(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  return matmulKernelWithPre(a, b, opts).out;
}

// ---- texture kernel plumbing ----

/**
 * How an operand reaches its texture: copied as is (its contiguous dimension is a multiple of 4, so its
 * texels are whole rows of the layout the kernel reads) or packed by a small kernel into the "row"
 * layout, zero-padded (any shape; also what a ragged K needs, see matmul-texture.ts).
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

function textureFits(device: Device, p: Plan, transA: boolean, transB: boolean): boolean {
  if (!fixedSubgroupSize(device)) return false;
  const max = maxOperandTexels(device);
  const na = p.sa ? p.batch : 1;
  const nb = p.sb ? p.batch : 1;
  return planA(p, transA, na).texels <= max && planB(p, transB, nb).texels <= max;
}

function runTexture(
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
  const v = { aMode: pa.mode, bMode: pb.mode, rows, sg, epilogue };
  device.run({
    name: "matmul",
    tag: () =>
      `matmul ${p.batch > 1 ? `${p.batch}×` : ""}${p.M}×${p.N}×${p.K} ${pa.mode[0]}${pb.mode[0]}${pa.copy ? "" : " packA"}${pb.copy ? "" : " packB"}`,
    key: textureMatmulKey(v),
    code: () => textureMatmulWGSL(v),
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

// ---- autograd (the differentiable op is in matmul-dispatch.ts) ----

/**
 * Gradients of C = act(alpha·op(A)·op(B) + bias) + residual w.r.t. [A, B, bias, residual], from the
 * operands the product was computed with (f32) and the saved pre-activation (consumed here).
 */
export function matmulBackward(
  g: Tensor,
  a: Tensor,
  b: Tensor,
  pre: Tensor | null,
  opts: MatmulOptions,
  need: { a: boolean; b: boolean },
): Array<Tensor | null> {
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const alpha = opts.alpha ?? 1;
  const { bias, residual } = opts;
  // Through the activation first: gz = g ⊙ act'(pre).
  let gz = g;
  if (pre) {
    gz = activationGrad(opts.activation ?? "none", g, pre);
    pre.dispose();
  }
  let da: Tensor | null = null;
  let db: Tensor | null = null;
  if (need.a) {
    da = transA
      ? matmulKernel(b, gz, { transA: transB, transB: true, alpha })
      : matmulKernel(gz, b, { transB: !transB, alpha });
    da = fitTo(da, a.shape);
  }
  if (need.b) {
    if (b.rank === 2 && a.rank > 2 && !transA) {
      // B was shared across A's folded batch: one GEMM over the flattened rows.
      const a2 = a.view([a.numel / a.shape[a.rank - 1]!, a.shape[a.rank - 1]!]);
      const g2 = gz.view([gz.numel / gz.shape[gz.rank - 1]!, gz.shape[gz.rank - 1]!]);
      db = transB
        ? matmulKernel(g2, a2, { transA: true, alpha })
        : matmulKernel(a2, g2, { transA: true, alpha });
      a2.dispose();
      g2.dispose();
    } else {
      db = transB
        ? matmulKernel(gz, a, { transA: true, transB: transA, alpha })
        : matmulKernel(a, gz, { transA: !transA, alpha });
      db = fitTo(db, b.shape);
    }
  }
  const dbias = bias?.requiresGrad ? sumTo(gz, bias.shape) : null;
  if (gz !== g) gz.dispose();
  // The residual's gradient is the incoming one unchanged (autograd copies it if it is shared).
  const dres = residual?.requiresGrad ? g : null;
  return [da, db, dbias, dres];
}

function activationGrad(act: MatmulActivation, g: Tensor, pre: Tensor): Tensor {
  switch (act) {
    case "gelu":
      return elementwise("gelu_grad", [g, pre], "a * gelu_erf_grad(b)");
    case "gelu_tanh":
      return elementwise("gelu_tanh_grad", [g, pre], "a * gelu_tanh_grad(b)");
    case "relu":
      return elementwise("relu_grad", [g, pre], "select(0.0, a, b > 0.0)");
    case "none":
      return g;
  }
}

/** Reduces a batched gradient to an operand that was broadcast over the batch; reshapes folded ones. */
function fitTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.numel === shape.reduce((x, y) => x * y, 1)) {
    if (g.shape.join() === shape.join()) return g;
    const v = g.view(shape);
    g.dispose();
    return v;
  }
  const r = sumTo(g, shape);
  g.dispose();
  return r;
}
