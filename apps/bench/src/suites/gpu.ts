/**
 * `gpu` suite, for a real GPU (scripts/gpu.sh runs it on a lent NVIDIA H200 within 7.5 minutes):
 *  - ViT-B/16 training step (fwd + bwd + AdamW) images/s at batch 64 in f32; in bf16 (trainer.precision
 *    bf16 with model.megatron_amp_O2, built by @vit/trainer exactly as `vit train` builds it); in fp16
 *    (precision 16 with O2 and NeMo's loss scaler; skipped without shader-f16); with flash attention (f32); with f16 matmuls (autocast: f16
 *    operands, f32 accumulation) through the tiled and the subgroup-matrix kernel. Each with the peak GPU
 *    memory (allocator statistics) and MFU (model-flops.ts over peak-flops.ts), beside PyTorch CUDA eager
 *    (f32, autocast bf16, autocast f16) on the same GPU in the same run when python3 has torch.
 *  - matmul GFLOP/s, f32 and f16, on 1024³ and the ViT-B/16 shapes, per kernel variant (texture, tiled,
 *    generic, subgroup-matrix), beside PyTorch CUDA.
 * A case the adapter cannot run (a missing feature, a kernel that cannot take the product) or that the
 * time budget leaves no room for is a row with `skipped` and the reason; a case that throws otherwise is
 * a row with `failed`. Every row has a stable `id`; scripts/check-gpu-report.mjs checks the list.
 *
 * Options: preset=B/16 batch=64 steps=5 budget_s=390 peak_tflops=<n | f32:67,bf16:989,...>;
 * smoke=1: a dry run on a CPU adapter (one small product, short step blocks) that takes every path.
 */
import type { ViTConfig } from "@vit/model";
import {
  Device,
  FeatureError,
  type MatmulKernelKind,
  probeSubgroupMatrix,
  setMatmulAutocast,
  setMatmulKernelOverride,
  subgroupMatrixStatus,
} from "@vit/tensor";
import { mfu, vitForwardFlopsPerImage, vitTrainFlopsPerImage } from "../model-flops.js";
import { type PeakDtype, type PeakLookup, lookupPeak } from "../peak-flops.js";
import { type TorchResult, runTorch } from "../peers/torch.js";
import { type StepSpec, measureSteps, stepConfig } from "../step-runner.js";
import { type BenchCase, type BenchContext, stats, unmeasuredCase } from "../types.js";
import { type Shape, oursMatmul } from "./kernels.js";

const SUITE = "gpu";

interface StepVariant {
  key: string;
  label: string;
  /** The arithmetic most of the step's FLOPs run in: which peak MFU is taken against. */
  dtype: PeakDtype;
  spec?: Pick<StepSpec, "precision" | "megatronO2" | "attention">;
  matmulAutocast?: "f16";
  kernel?: MatmulKernelKind;
  /** The PyTorch run it is compared with (torch.autocast dtype, or plain f32). */
  torch?: "f32" | "bf16" | "f16";
}

/** In order of importance: the time budget cuts from the end. */
const STEP_VARIANTS: StepVariant[] = [
  { key: "f32", label: "f32", dtype: "f32", torch: "f32" },
  {
    key: "bf16",
    label: "bf16 (precision=bf16, megatron_amp_O2)",
    dtype: "bf16",
    spec: { precision: "bf16", megatronO2: true },
    torch: "bf16",
  },
  {
    key: "fp16",
    label: "fp16 (precision=16, megatron_amp_O2, loss scaler)",
    dtype: "f16",
    spec: { precision: 16, megatronO2: true },
    torch: "f16",
  },
  { key: "flash", label: "f32, flash attention", dtype: "f32", spec: { attention: "flash" }, torch: "f32" },
  {
    key: "f16-matmuls-tiled",
    label: "f16 matmuls (autocast), tiled kernel",
    dtype: "f16",
    matmulAutocast: "f16",
    kernel: "tiled",
    torch: "f16",
  },
  {
    key: "f16-matmuls-subgroup-matrix",
    label: "f16 matmuls (autocast), subgroup-matrix kernel",
    dtype: "f16",
    matmulAutocast: "f16",
    kernel: "subgroup-matrix",
    torch: "f16",
  },
];

const MATMUL_KERNELS: MatmulKernelKind[] = ["subgroup-matrix", "tiled", "texture", "generic"];
const MATMUL_DTYPES = ["f32", "f16"] as const;

const SHAPES: Array<[string, Shape]> = [
  ["1024³", [1024, 1024, 1024, false, false]],
  ["ViT-B/16 b64 qkv (x·Wᵀ)", [64 * 197, 2304, 768, false, true]],
  ["ViT-B/16 b64 fc1 (x·Wᵀ)", [64 * 197, 3072, 768, false, true]],
  ["ViT-B/16 b64 fc2 dW (dYᵀ·X)", [768, 3072, 64 * 197, true, false]],
];
const SMOKE_SHAPES: Array<[string, Shape]> = [["256³", [256, 256, 256, false, false]]];

const subgroupMatrixReason = (status: string) =>
  status === "unavailable"
    ? "the adapter lacks chromium-experimental-subgroup-matrix"
    : `subgroup matrices ${status} on this adapter`;

/** Why `v` cannot run on `device`, or null. */
function stepSkipReason(device: Device, v: StepVariant): string | null {
  if ((v.matmulAutocast === "f16" || v.spec?.precision === 16) && !device.hasFeature("shader-f16"))
    return "the adapter lacks shader-f16";
  if (v.kernel === "subgroup-matrix") {
    const st = subgroupMatrixStatus(device);
    if (!st.startsWith("ok")) return subgroupMatrixReason(st);
  }
  return null;
}

/** MFU figures for `extra`: the fraction, or the reason it is left out. */
function mfuExtra(key: string, peak: PeakLookup, dtype: PeakDtype, flops: number, ips: number) {
  if ("reason" in peak) return { [`${key}_omitted`]: peak.reason };
  const p = peak.tflops[dtype];
  if (!(p > 0)) return { [`${key}_omitted`]: `no ${dtype} peak in ${peak.gpu}` };
  return { [key]: Number(mfu(flops, ips, p).toPrecision(4)) };
}

const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

export async function gpuSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const t0 = performance.now();
  const opt = ctx.options ?? {};
  const smoke = !!opt.smoke;
  const preset = opt.preset ?? "B/16";
  const batch = Number(opt.batch ?? 64);
  const budgetS = Number(opt.budget_s ?? 390);
  const spec: StepSpec = {
    preset,
    batch,
    steps: Number(opt.steps ?? 5),
    repeats: smoke ? 2 : 3,
    warmup: smoke ? 1 : 2,
    targetBlockMs: smoke ? 0 : 2500,
  };
  const dawnToggles = ["allow_unsafe_apis"];
  const newDevice = async () => {
    const d = await Device.create({ dawnToggles, seed: 1 });
    await probeSubgroupMatrix(d);
    return d;
  };
  let device = await newDevice();
  const a = device.adapter;
  const adapterText = `${a.device} ${a.description}`;
  const peak = lookupPeak(adapterText, opt.peak_tflops);
  const vit: ViTConfig = stepConfig(preset);
  const flops = vitTrainFlopsPerImage(vit);
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
  ctx.meta.subgroupMatrix = subgroupMatrixStatus(device);
  ctx.meta.peakTflops = peak;
  ctx.meta.modelFlops = {
    formula: "per image: 3 × forward; forward = 2 × (Σ matmul weights × tokens each sees + 2·L·S²·D)",
    forward_GFLOP_per_image: vitForwardFlopsPerImage(vit) / 1e9,
    train_GFLOP_per_image: flops / 1e9,
  };
  ctx.log(`adapter: ${adapterText} (${a.vendor} ${a.architecture}), poll ${device.pollMode}`);
  ctx.log(`subgroup matrix: ${ctx.meta.subgroupMatrix}`);
  ctx.log(
    "reason" in peak
      ? `MFU: ${peak.reason}`
      : `MFU against ${peak.gpu}: ${JSON.stringify(peak.tflops)} TFLOP/s`,
  );

  const overBudget = () =>
    (performance.now() - t0) / 1000 > budgetS ? `time budget spent (budget_s=${budgetS})` : null;
  // PyTorch CUDA: when torch or CUDA is missing, no further requests (each costs an import); any other
  // error costs only that request's peer column.
  let torchDown: string | null = null;
  const torch = (req: Record<string, unknown>): TorchResult | null => {
    if (torchDown) return null;
    // Bounded, so a hung peer cannot take the run past gpu.sh's limit.
    const r = runTorch({ device: "cuda", ...req }, 120_000);
    if (!r || /CUDA is not available/.test(r.error ?? "")) {
      torchDown = r?.error ?? "python3 cannot import torch";
      ctx.log(`PyTorch CUDA peer: ${torchDown}`);
      ctx.meta!.torch = { error: torchDown };
      return null;
    }
    if (r.error) {
      ctx.log(`PyTorch CUDA peer (${req.op} ${req.amp ?? req.dtype ?? ""}): ${r.error}`);
      return null;
    }
    ctx.meta!.torch = { version: r.torch };
    return r;
  };
  const cases: BenchCase[] = [];

  // Training steps, on one device (its compiled pipelines carry over); a fresh one after a failure, so a
  // broken case cannot reach the next. Peak memory is reset after each case's warm-up.
  const torchSteps = new Map<string, TorchResult | null>();
  for (const v of STEP_VARIANTS) {
    const head = {
      suite: SUITE,
      id: `step:${v.key}`,
      name: `${preset} ViT b${batch} step, ${v.label}`,
      unit: "images/s",
    };
    const skip = stepSkipReason(device, v) ?? overBudget();
    if (skip) {
      cases.push(unmeasuredCase(head, { skipped: skip }));
      continue;
    }
    ctx.log(`step ${preset} b${batch} ${v.label}`);
    if (v.torch && !torchSteps.has(v.torch)) {
      const amp = v.torch === "f32" ? false : v.torch;
      torchSteps.set(
        v.torch,
        torch({ op: "step", preset, batch, steps: spec.steps, repeats: spec.repeats, amp }),
      );
    }
    setMatmulAutocast(v.matmulAutocast ?? null);
    setMatmulKernelOverride(v.kernel ?? null);
    try {
      const f = await measureSteps(device, { ...spec, ...v.spec });
      const s = stats(f.imagesPerSecond);
      const bc: BenchCase = {
        ...head,
        ...s,
        repeats: spec.repeats,
        extra: {
          peak_MiB: mib(f.peakBytes),
          ...mfuExtra("MFU", peak, v.dtype, flops, s.median),
          steps_per_block: f.stepsPerBlock,
          dispatches_per_step: f.dispatchesPerStep,
          js_record_ms_per_step: Number(f.recordMsPerStep.toFixed(1)),
        },
      };
      const p = v.torch ? torchSteps.get(v.torch) : null;
      if (p?.images_per_second) {
        const pm = p.images_per_second[0];
        bc.peer = { name: `PyTorch CUDA ${v.torch === "f32" ? "f32" : `autocast ${v.torch}`}`, median: pm };
        bc.ratio = s.median / pm;
        Object.assign(bc.extra!, mfuExtra("peer_MFU", peak, v.dtype, flops, pm));
        if (p.peak_bytes) bc.extra!.peer_peak_MiB = mib(p.peak_bytes);
      }
      cases.push(bc);
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0]!;
      ctx.log(`step ${v.label}: ${(e as Error).stack ?? msg}`);
      cases.push(unmeasuredCase(head, e instanceof FeatureError ? { skipped: msg } : { failed: msg }));
      device.destroy();
      device = await newDevice();
    } finally {
      setMatmulAutocast(null);
      setMatmulKernelOverride(null);
    }
  }

  // Matmuls: every kernel variant on every shape; the kernel matmul would choose is in `extra.kernel`.
  const shapes = smoke ? SMOKE_SHAPES : SHAPES;
  for (const dtype of MATMUL_DTYPES) {
    const hasDtype = dtype === "f32" || device.hasFeature("shader-f16");
    const peer =
      hasDtype && !overBudget()
        ? torch({ op: "matmul", dtype, repeats: 5, shapes: shapes.map(([, s]) => s) })
        : null;
    for (const kernel of MATMUL_KERNELS) {
      for (const [i, [label, shape]] of shapes.entries()) {
        const head = {
          suite: SUITE,
          id: `matmul:${dtype}:${kernel}:${label}`,
          name: `matmul ${dtype} ${kernel} ${label}`,
          unit: "GFLOP/s",
        };
        const skip = hasDtype ? overBudget() : "the adapter lacks shader-f16";
        if (skip) {
          cases.push(unmeasuredCase(head, { skipped: skip }));
          continue;
        }
        try {
          const m = await oursMatmul(device, shape, dtype, smoke ? 3 : 5, smoke ? 50 : 200, kernel);
          if (!m.gflops.length) {
            const why =
              kernel === "subgroup-matrix" && !subgroupMatrixStatus(device).startsWith("ok")
                ? subgroupMatrixReason(subgroupMatrixStatus(device))
                : `the ${kernel} kernel cannot take this ${dtype} product on this adapter (matmul runs ${m.kernel})`;
            cases.push(unmeasuredCase(head, { skipped: why }));
            continue;
          }
          const s = stats(m.gflops);
          const bc: BenchCase = { ...head, ...s, repeats: m.gflops.length, extra: { kernel: m.kernel } };
          const p = peer?.gflops?.[i];
          if (p) {
            bc.peer = { name: `PyTorch CUDA ${dtype}`, median: p[0] };
            bc.ratio = s.median / p[0];
          }
          cases.push(bc);
        } catch (e) {
          const msg = (e as Error).message.split("\n")[0]!;
          ctx.log(`matmul ${dtype} ${kernel} ${label}: ${(e as Error).stack ?? msg}`);
          cases.push(unmeasuredCase(head, e instanceof FeatureError ? { skipped: msg } : { failed: msg }));
        }
      }
    }
  }
  device.destroy();
  return cases;
}
