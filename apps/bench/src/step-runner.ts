/**
 * One training step of a ViT as the `step` and `gpu` suites time it: forward, cross-entropy, backward,
 * AdamW update, zero_grad — all recorded on the device, no readback inside the step (the loop syncs
 * once per timed block, as a training loop must).
 */
import { VisionTransformer, getPreset } from "@vit/model";
import { AdamW, paramGroupsWeightDecay } from "@vit/optim";
import { type Device, crossEntropy, randn, scope, tensor } from "@vit/tensor";

export interface StepSpec {
  preset: string;
  batch: number;
  /** Steps per timed block; the figure is images/s of a block. */
  steps: number;
  repeats: number;
  warmup: number;
}

export interface StepFigures {
  imagesPerSecond: number[];
  peakBytes: number;
  dispatchesPerStep: number;
  bindGroupsPerStep: number;
  /** JS time spent recording one step (the GPU does not run during it unless the batch is flushed). */
  recordMsPerStep: number;
  params: number;
}

/** torchvision-like config for a preset: timm style, one class token, no dropout (deterministic timing). */
export function stepConfig(preset: string) {
  return getPreset(preset, { style: "timm", class_token_length: 1, hidden_dropout: 0, attention_dropout: 0 });
}

/** The benchmarked training step: model, AdamW, a fixed batch, and one fwd+bwd+update closure. */
function buildStep(device: Device, spec: StepSpec) {
  const cfg = stepConfig(spec.preset);
  const model = new VisionTransformer(device, cfg);
  model.train();
  const named = model.namedParameters();
  const opt = new AdamW(paramGroupsWeightDecay(named, 0.05));
  const x = randn(device, [spec.batch, cfg.num_channels, cfg.img_h, cfg.img_w]);
  const y = tensor(
    device,
    Int32Array.from({ length: spec.batch }, (_, i) => i % cfg.num_classes),
    [spec.batch],
  );
  const step = () => {
    scope(() => {
      crossEntropy(model.forward(x), y).backward();
    });
    opt.step({ lr: 1e-3 });
    opt.zeroGrad();
  };
  return { cfg, model, named, opt, x, y, step };
}

export async function measureSteps(device: Device, spec: StepSpec): Promise<StepFigures> {
  const { cfg, model, named, opt, x, y, step } = buildStep(device, spec);
  for (let i = 0; i < spec.warmup; i++) step();
  await device.sync();
  device.resetPeak();
  const d0 = device.dispatchCount;
  const b0 = device.bindGroupsCreated;
  let recordMs = 0;
  const ips: number[] = [];
  for (let r = 0; r < spec.repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < spec.steps; i++) {
      const s0 = performance.now();
      step();
      recordMs += performance.now() - s0;
    }
    await device.sync();
    ips.push((spec.batch * spec.steps) / ((performance.now() - t0) / 1000));
  }
  const n = spec.repeats * spec.steps;
  const figures: StepFigures = {
    imagesPerSecond: ips,
    peakBytes: device.memoryStats().peakBytes,
    dispatchesPerStep: (device.dispatchCount - d0) / n,
    bindGroupsPerStep: (device.bindGroupsCreated - b0) / n,
    recordMsPerStep: recordMs / n,
    params: named.reduce((a, [, p]) => a + p.numel, 0),
  };
  opt.zeroGrad();
  opt.dispose();
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
  const { cfg, model, named, opt, x, y, step } = buildStep(device, spec);
  step();
  step();
  await device.sync();
  device.startProfile();
  step();
  const prof = await device.stopProfile();
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  return prof;
}
