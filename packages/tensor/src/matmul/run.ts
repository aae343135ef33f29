/**
 * The raw matmul kernel call (no autograd): checks the operands, builds the fused epilogue
 * (C = act(alpha·op(A)·op(B) + bias) + residual, optionally also the pre-activation) and dispatches the
 * kernel select.ts chooses, casting f32 operands to f16 first under setMatmulAutocast("f16").
 */
import { noGrad } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import type { Device } from "../device.js";
import { DTypeError, ShapeError, fmtShape } from "../errors.js";
import { cast } from "../ops/cast.js";
import { Tensor } from "../tensor.js";
import type { EpilogueSpec } from "./kernels/epilogue.js";
import { MATMUL_FIELDS, genericMatmulKernel } from "./kernels/generic.js";
import { SGMAT_FIELDS, subgroupMatrixKernel } from "./kernels/subgroup-matrix.js";
import { TILE, TILED_MATMUL_FIELDS, tiledMatmulKernel } from "./kernels/tiled.js";
import { type MatmulKernelOptions, type MatmulOptions, type Plan, plan } from "./plan.js";
import { type Choice, choose, matmulAutocast } from "./select.js";
import { subgroupMatrixFor } from "./subgroup.js";
import { runTexture } from "./texture.js";

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
    matmulAutocast() === "f16" &&
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
        kernel: subgroupMatrixKernel,
        variant: v,
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
        kernel: tiledMatmulKernel,
        variant: v,
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
        kernel: genericMatmulKernel,
        variant: v,
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
