/**
 * Which kernel runs a product (config.ts gives the per-adapter default): the texture kernel on CPU
 * adapters (lavapipe), the subgroup-matrix kernel where that feature exists and its probe passed, the
 * shared-memory tiled kernel on other GPUs, and the generic one as the fallback for whatever the others do
 * not cover. Tests, benchmarks and the autotune override the choice here.
 */
import type { Device } from "../device.js";
import type { Tensor } from "../tensor.js";
import { type MatmulKernelKind, type MatmulTuning, matmulTuning, shapeClass } from "./config.js";
import { type MatmulOptions, type Plan, plan } from "./plan.js";
import { subgroupMatrixFor } from "./subgroup.js";
import { textureFits } from "./texture.js";

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

export interface Choice {
  kind: MatmulKernelKind;
  tuning: MatmulTuning;
}

export function choose(
  device: Device,
  p: Plan,
  transA: boolean,
  transB: boolean,
  dtype: "f32" | "f16",
): Choice {
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

/** The autocast set by setMatmulAutocast (null: off). */
export function matmulAutocast(): "f16" | null {
  return autocast;
}

/** Whether f16 operands can go straight into this adapter's kernel for the product, with an f32 result. */
export function f16OperandKernel(a: Tensor, b: Tensor, opts: MatmulOptions = {}): boolean {
  if (!a.device.hasFeature("shader-f16")) return false;
  const p = plan(a, b, !!opts.transA, !!opts.transB);
  const kind = choose(a.device, p, !!opts.transA, !!opts.transB, "f16").kind;
  return kind === "tiled" || kind === "subgroup-matrix";
}
