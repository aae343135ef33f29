/**
 * `gpu` suite, for a real GPU (scripts/gpu.sh runs it on a lent NVIDIA H200): ViT-B/16 training step
 * images/s at batch 64 in f32, with f16 matmuls (autocast: f16 operands, f32 accumulation and
 * activations) through the tiled kernel, and the same through the subgroup-matrix kernel where the
 * adapter has `chromium-experimental-subgroup-matrix` (Dawn toggle allow_unsafe_apis) and its on-device
 * probe passes; side by side with PyTorch CUDA (f32 and torch.autocast f16) when present. Plus f32/f16
 * matmul GFLOP/s on the ViT-B/16 shapes.
 *
 * Options: --set preset=B/16 --set batch=64 --set steps=5 (smoke=1: one small product, for a dry run)
 */
import {
  Device,
  probeSubgroupMatrix,
  setMatmulAutocast,
  setMatmulKernelOverride,
  subgroupMatrixStatus,
} from "@vit/tensor";
import { runTorch } from "../peers/torch.js";
import { type StepSpec, measureSteps } from "../step-runner.js";
import { type BenchCase, type BenchContext, stats } from "../types.js";
import { type Shape, oursMatmul } from "./kernels.js";

const SHAPES: Array<[string, Shape]> = [
  ["1024³", [1024, 1024, 1024, false, false]],
  ["ViT-B/16 b64 qkv (x·Wᵀ)", [64 * 197, 2304, 768, false, true]],
  ["ViT-B/16 b64 fc1 (x·Wᵀ)", [64 * 197, 3072, 768, false, true]],
  ["ViT-B/16 b64 fc2 dW (dYᵀ·X)", [768, 3072, 64 * 197, true, false]],
];

export async function gpuSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const preset = ctx.options?.preset ?? "B/16";
  const batch = Number(ctx.options?.batch ?? 64);
  const spec: StepSpec = { preset, batch, steps: Number(ctx.options?.steps ?? 5), repeats: 3, warmup: 2 };
  const device = await Device.create({ dawnToggles: ["allow_unsafe_apis"], seed: 1 });
  const a = device.adapter;
  ctx.meta ??= {};
  ctx.meta.adapter = {
    vendor: a.vendor,
    architecture: a.architecture,
    device: a.device,
    description: a.description,
    backend: a.backend,
    features: a.features,
    subgroupMatrixConfigs: a.subgroupMatrixConfigs,
  };
  ctx.log(`adapter: ${a.description || a.device} (${a.vendor} ${a.architecture}), poll ${device.pollMode}`);
  const sgmat = await probeSubgroupMatrix(device);
  ctx.meta.subgroupMatrix = sgmat;
  ctx.log(`subgroup matrix: ${sgmat}`);
  const cases: BenchCase[] = [];
  // smoke=1: one small product only (to try the script on a CPU adapter).
  const shapes = ctx.options?.smoke ? SHAPES.slice(0, 1) : SHAPES;
  const torchMm = runTorch({
    op: "matmul",
    device: "cuda",
    dtype: "f32",
    repeats: 5,
    shapes: shapes.map(([, s]) => s),
  });
  const torchMm16 = runTorch({
    op: "matmul",
    device: "cuda",
    dtype: "f16",
    repeats: 5,
    shapes: shapes.map(([, s]) => s),
  });
  for (const dtype of ["f32", "f16"] as const) {
    if (dtype === "f16" && !device.hasFeature("shader-f16")) continue;
    const peer = dtype === "f32" ? torchMm : torchMm16;
    for (const [i, [label, shape]] of shapes.entries()) {
      const m = await oursMatmul(device, shape, dtype, 5, 200);
      const s = stats(m.gflops);
      const bc: BenchCase = {
        suite: "gpu",
        name: `matmul ${dtype} ${label}`,
        unit: "GFLOP/s",
        ...s,
        repeats: 5,
        extra: { kernel: m.kernel },
      };
      const p = peer?.gflops?.[i];
      if (p) {
        bc.peer = { name: `PyTorch CUDA ${dtype}`, median: p[0] };
        bc.ratio = s.median / p[0];
      }
      cases.push(bc);
    }
  }
  const torchF32 = runTorch({
    op: "step",
    device: "cuda",
    preset,
    batch,
    steps: spec.steps,
    repeats: spec.repeats,
  });
  const torchAmp = runTorch({
    op: "step",
    device: "cuda",
    preset,
    batch,
    steps: spec.steps,
    repeats: spec.repeats,
    amp: true,
  });
  if (torchF32?.error) ctx.log(torchF32.error);
  const variants: Array<{
    name: string;
    autocast: boolean;
    kernel: "tiled" | "subgroup-matrix" | null;
    peer: typeof torchF32;
  }> = [
    { name: "f32", autocast: false, kernel: null, peer: torchF32 },
    { name: "f16 matmuls (autocast), tiled kernel", autocast: true, kernel: "tiled", peer: torchAmp },
  ];
  if (subgroupMatrixStatus(device).startsWith("ok")) {
    variants.push({
      name: "f16 matmuls (autocast), subgroup-matrix kernel",
      autocast: true,
      kernel: "subgroup-matrix",
      peer: torchAmp,
    });
  }
  for (const v of variants) {
    ctx.log(`step ${preset} b${batch} ${v.name}`);
    setMatmulAutocast(v.autocast ? "f16" : null);
    setMatmulKernelOverride(v.kernel);
    try {
      const f = await measureSteps(device, spec);
      const s = stats(f.imagesPerSecond);
      const bc: BenchCase = {
        suite: "gpu",
        name: `${preset} ViT b${batch} step, ${v.name}`,
        unit: "images/s",
        ...s,
        repeats: spec.repeats,
        extra: {
          peak_MiB: Number((f.peakBytes / 2 ** 20).toFixed(0)),
          dispatches_per_step: f.dispatchesPerStep,
          js_record_ms_per_step: Number(f.recordMsPerStep.toFixed(1)),
        },
      };
      const p = v.peer?.images_per_second;
      if (p) {
        bc.peer = { name: `PyTorch CUDA ${v.autocast ? "autocast f16" : "f32"}`, median: p[0] };
        bc.ratio = s.median / p[0];
      }
      cases.push(bc);
    } catch (e) {
      ctx.log(`step ${v.name} failed: ${(e as Error).message}`);
    } finally {
      setMatmulAutocast(null);
      setMatmulKernelOverride(null);
    }
  }
  device.destroy();
  return cases;
}
