/**
 * One training step of a ViT as the `step` and `gpu` suites time it: @vit/trainer's trainStep, the step
 * Trainer.fit runs (forward, cross-entropy, backward, clipping, AdamW update, zero_grad), all recorded on
 * the device with no readback inside the step (the loop syncs once per timed block, as a training loop
 * must). The model and optimizer are built by @vit/trainer from a training config, so precision (bf16
 * autocast, Megatron O2 bf16 weights) and the attention kernel are set up exactly as `vit train` sets them
 * up. The batch is a fixed one already on the device (no upload per step).
 */
import type { VisionTransformer } from "@vit/model";
import type { ProcessGroup } from "@vit/parallel";
import { type Device, randn, tensor } from "@vit/tensor";
import {
  type LossScaler,
  type Strategy,
  type TrainConfig,
  type TrainModel,
  type TrainOptimizer,
  buildLossScaler,
  buildModel,
  buildOptimizer,
  createStrategy,
  parseConfig,
  trainStep,
  trainStepSetup,
  vitConfigOf,
} from "@vit/trainer";
import { type StepFigures, type StepSpec, measureBuilt } from "./step-core.js";

export type { StepSpec, StepFigures } from "./step-core.js";

/** The training config of a benchmarked step: torchvision-like ViT (timm style, one class token, no dropout). */
function trainConfig(spec: StepSpec, world = 1, tensorParallel = 1) {
  return parseConfig(
    {
      // max_steps only bounds the config (a config must have one); the suites count their own steps.
      trainer: { precision: spec.precision ?? 32, max_steps: 1, devices: world },
      model: {
        tensor_model_parallel_size: tensorParallel,
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
  // tensor_model_parallel_size is 1: the single-device VisionTransformer.
  const model = buildModel(device, tc) as VisionTransformer;
  const scaler = buildLossScaler(device, tc);
  return withBatch(device, spec, tc, model, buildOptimizer(model, tc, undefined, scaler), scaler);
}

/**
 * This rank's step of a job in `group`, set up by the trainer's strategy for the layout (data parallel, or
 * with `tensorParallel` > 1 Megatron's tensor parallel ± data parallel): the strategy builds the model and
 * optimizer, loads the starting weights and syncs them over the replicas, as Trainer.fit does.
 */
async function buildRankStep(device: Device, spec: StepSpec, group: ProcessGroup, tensorParallel: number) {
  const tc = trainConfig(spec, group.worldSize, tensorParallel);
  const strategy = createStrategy(tc, group);
  const model = strategy.buildModel(device, tc);
  const scaler = buildLossScaler(device, tc);
  const opt = strategy.buildOptimizer(model, tc, scaler);
  await strategy.initWeights(model, tc, () => {});
  await strategy.syncWeights(model);
  return { strategy, built: withBatch(device, spec, tc, model, opt, scaler, strategy) };
}

function withBatch(
  device: Device,
  spec: StepSpec,
  tc: TrainConfig,
  model: TrainModel,
  opt: TrainOptimizer,
  scaler: LossScaler | null,
  strategy?: Strategy,
) {
  const cfg = vitConfigOf(tc.model);
  model.train();
  const named = model.namedParameters();
  const x = randn(device, [spec.batch, cfg.num_channels, cfg.img_h, cfg.img_w]);
  const y = tensor(
    device,
    Int32Array.from({ length: spec.batch }, (_, i) => i % cfg.num_classes),
    [spec.batch],
  );
  const setup = trainStepSetup(device, tc, {
    model,
    optimizer: opt,
    scaler,
    ...(strategy ? { strategy } : {}),
  });
  const step = async () => {
    for (const l of (await trainStep(setup, [{ x, y }], { lr: 1e-3 })).losses) l.dispose();
  };
  return { cfg, model, named, opt, scaler, x, y, step };
}

/**
 * Times `spec`'s step on `device`; with `group`, this rank's step of a job in that group (the comm suite's
 * rows): data parallel, or tensor parallel over `tensorParallel` ranks (× data parallel over the rest).
 */
export async function measureSteps(
  device: Device,
  spec: StepSpec,
  group?: ProcessGroup,
  tensorParallel = 1,
): Promise<StepFigures> {
  if (!group) return measureBuilt(device, spec, buildStep(device, spec));
  const { strategy, built } = await buildRankStep(device, spec, group, tensorParallel);
  try {
    return await measureBuilt(device, spec, built);
  } finally {
    strategy.dispose();
  }
}

/** GPU time per op over one step (timestamp queries), largest first. */
export async function profileStep(
  device: Device,
  spec: StepSpec,
): Promise<Array<{ name: string; count: number; ms: number }>> {
  const { model, opt, scaler, x, y, step } = buildStep(device, spec);
  await step();
  await step();
  await device.sync();
  device.startProfile();
  await step();
  const prof = await device.stopProfile();
  opt.dispose();
  scaler?.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  return prof;
}
