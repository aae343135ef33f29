/**
 * One training step of a ViT as the `step` and `gpu` suites time it: forward, cross-entropy, backward,
 * AdamW update, zero_grad — all recorded on the device, no readback inside the step (the loop syncs
 * once per timed block, as a training loop must). The model and optimizer are built by @vit/trainer from
 * a training config, so precision (bf16 autocast, Megatron O2 bf16 weights) and the attention kernel
 * are set up exactly as `vit train` sets them up.
 */
import type { VisionTransformer } from "@vit/model";
import { type Device, autocast, crossEntropy, mul, randn, scope, tensor } from "@vit/tensor";
import { buildLossScaler, buildModel, buildOptimizer, halfDtypeOf, parseConfig, vitConfigOf } from "@vit/trainer";

export interface StepSpec {
  preset: string;
  batch: number;
  /** Steps per timed block (at most, with `targetBlockMs`); the figure is images/s of a block. */
  steps: number;
  repeats: number;
  warmup: number;
  /** trainer.precision (default 32); 16 is fp16 with NeMo's dynamic loss scaler. */
  precision?: 32 | "bf16" | 16;
  /** model.megatron_amp_O2: half-precision matmul weights with fp32 master copies (needs bf16 or 16). */
  megatronO2?: boolean;
  /** model.attention (default naive). */
  attention?: "naive" | "flash";
  /**
   * Fewer steps per block when one step is slow: blocks of about this many ms (from a timed warm-up
   * step), between 1 and `steps` steps. Keeps a large model inside a time budget.
   */
  targetBlockMs?: number;
}

export interface StepFigures {
  imagesPerSecond: number[];
  /** Steps per timed block actually used. */
  stepsPerBlock: number;
  peakBytes: number;
  dispatchesPerStep: number;
  bindGroupsPerStep: number;
  /** JS time spent recording one step (the GPU does not run during it unless the batch is flushed). */
  recordMsPerStep: number;
  params: number;
}

/** The training config of a benchmarked step: torchvision-like ViT (timm style, one class token, no dropout). */
function trainConfig(spec: StepSpec) {
  return parseConfig(
    {
      trainer: { precision: spec.precision ?? 32 },
      model: {
        preset: spec.preset,
        style: "timm",
        class_token_length: 1,
        hidden_dropout: 0,
        attention_dropout: 0,
        attention: spec.attention ?? "naive",
        megatron_amp_O2: spec.megatronO2 ?? false,
        // fp16: start the scaler where a run settles (NeMo's 2^32 would make the first timed steps skips).
        ...(spec.precision === 16 ? { native_amp_init_scale: 1024 } : {}),
        optim: { name: "adamw", lr: 1e-3, weight_decay: 0.05 },
      },
    },
    "bench step",
  );
}

/** The ViT config of a preset as the step suites build it (for FLOP counts and reports). */
export function stepConfig(preset: string) {
  return vitConfigOf(trainConfig({ preset, batch: 1, steps: 1, repeats: 1, warmup: 0 }).model);
}

/** The benchmarked training step: model, AdamW, a fixed batch, and one fwd+bwd+update closure. */
function buildStep(device: Device, spec: StepSpec) {
  const tc = trainConfig(spec);
  const cfg = vitConfigOf(tc.model);
  // tensor_model_parallel_size is 1: the single-device VisionTransformer.
  const model = buildModel(device, tc) as VisionTransformer;
  model.train();
  const named = model.namedParameters();
  // fp16: the loss scaler as the Trainer builds it.
  const scaler = buildLossScaler(device, tc);
  const opt = buildOptimizer(model, tc, undefined, scaler);
  const half = halfDtypeOf(tc);
  const x = randn(device, [spec.batch, cfg.num_channels, cfg.img_h, cfg.img_w]);
  const y = tensor(
    device,
    Int32Array.from({ length: spec.batch }, (_, i) => i % cfg.num_classes),
    [spec.batch],
  );
  const step = () => {
    scope(() => {
      // As the Trainer's step: the forward (and loss) under autocast in bf16/fp16; under fp16 the backward
      // starts from the loss times the scale (the optimizer unscales and skips on overflow on the GPU).
      const forward = () => crossEntropy(model.forward(x), y);
      const loss = half ? autocast(half, forward) : forward();
      (scaler ? mul(loss, scaler.scale) : loss).backward();
    });
    void opt.step({ lr: 1e-3 });
    opt.zeroGrad();
  };
  return { cfg, model, named, opt, scaler, x, y, step };
}

export async function measureSteps(device: Device, spec: StepSpec): Promise<StepFigures> {
  const { cfg, model, named, opt, scaler, x, y, step } = buildStep(device, spec);
  for (let i = 0; i < spec.warmup; i++) step();
  await device.sync();
  let steps = spec.steps;
  if (spec.targetBlockMs) {
    const t0 = performance.now();
    step();
    await device.sync();
    const ms = performance.now() - t0;
    steps = Math.max(1, Math.min(spec.steps, Math.round(spec.targetBlockMs / ms)));
  }
  device.resetPeak();
  const d0 = device.dispatchCount;
  const b0 = device.bindGroupsCreated;
  let recordMs = 0;
  const ips: number[] = [];
  for (let r = 0; r < spec.repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const s0 = performance.now();
      step();
      recordMs += performance.now() - s0;
    }
    await device.sync();
    ips.push((spec.batch * steps) / ((performance.now() - t0) / 1000));
  }
  const n = spec.repeats * steps;
  const figures: StepFigures = {
    imagesPerSecond: ips,
    stepsPerBlock: steps,
    peakBytes: device.memoryStats().peakBytes,
    dispatchesPerStep: (device.dispatchCount - d0) / n,
    bindGroupsPerStep: (device.bindGroupsCreated - b0) / n,
    recordMsPerStep: recordMs / n,
    params: named.reduce((a, [, p]) => a + p.numel, 0),
  };
  opt.zeroGrad();
  opt.dispose();
  scaler?.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  return figures;
}

/** GPU time per op over one step (timestamp queries), largest first. */
export async function profileStep(
  device: Device,
  spec: StepSpec,
): Promise<Array<{ name: string; count: number; ms: number }>> {
  const { cfg, model, named, opt, scaler, x, y, step } = buildStep(device, spec);
  step();
  step();
  await device.sync();
  device.startProfile();
  step();
  const prof = await device.stopProfile();
  opt.dispose();
  scaler?.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  return prof;
}
