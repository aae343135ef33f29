/**
 * The timing loop of a training step, shared by Node's suites (step-runner.ts builds the step with
 * @vit/trainer) and the browser page (src/browser/page.ts, which builds the same f32 step without it:
 * @vit/trainer has no browser entry yet). Nothing here reads back inside a step: the loop syncs once per
 * timed block, as a training loop must.
 */
import { VisionTransformer, getPreset } from "@vit/model";
import { AdamW, paramGroupsWeightDecay } from "@vit/optim";
import { type Device, type Tensor, crossEntropy, randn, scope, tensor } from "@vit/tensor";

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

/** A built step: what `measureBuilt` times and then disposes. */
export interface BuiltStep {
  model: { dispose(): void };
  named: Array<[string, Tensor]>;
  opt: { zeroGrad(): void; dispose(): void };
  scaler?: { dispose(): void } | null;
  x: Tensor;
  y: Tensor;
  /** One step; the trainer's trainStep is async (tensor-parallel collectives), the page's plain one is not. */
  step: () => void | Promise<void>;
}

/**
 * The f32 step with the same model config as step-runner's trainConfig (timm style, one class token, no
 * dropout) and AdamW(wd 0.05, timm's no-decay rule), built directly for the browser page.
 */
export function buildPlainStep(device: Device, spec: StepSpec): BuiltStep {
  const cfg = getPreset(spec.preset, { style: "timm", class_token_length: 1, hidden_dropout: 0, attention_dropout: 0 });
  const model = new VisionTransformer(device, cfg);
  model.train();
  const named = model.namedParameters();
  const opt = new AdamW(paramGroupsWeightDecay(named, 0.05));
  const x = randn(device, [spec.batch, cfg.num_channels, cfg.img_h, cfg.img_w]);
  const y = tensor(device, Int32Array.from({ length: spec.batch }, (_, i) => i % cfg.num_classes), [spec.batch]);
  const step = () => {
    scope(() => crossEntropy(model.forward(x), y).backward());
    void opt.step({ lr: 1e-3 });
    opt.zeroGrad();
  };
  return { model, named, opt, x, y, step };
}

export async function measureBuilt(device: Device, spec: StepSpec, built: BuiltStep): Promise<StepFigures> {
  const { model, named, opt, scaler, x, y, step } = built;
  for (let i = 0; i < spec.warmup; i++) await step();
  await device.sync();
  let steps = spec.steps;
  if (spec.targetBlockMs) {
    const t0 = performance.now();
    await step();
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
      await step();
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

