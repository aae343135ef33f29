/**
 * One optimizer step of training, as `Trainer.fit` runs it and the bench times it: for each micro-batch of
 * the global batch, the forward (under autocast when training in half precision), the cross-entropy loss,
 * and the backward of the loss averaged over the micro-batches (times the loss scale under fp16); then the
 * strategy's gradient reduction, clipping and update, and zero_grad. Nothing is read back to the host (the
 * loop syncs at log time), except the tensor-parallel gradient norm, which is an all-reduce.
 */
import type { Batch } from "@vit/data";
import type { LossScaler } from "@vit/optim";
import {
  type AutocastDtype,
  type Device,
  type Tensor,
  autocast,
  crossEntropy,
  mul,
  mulScalar,
  tensor,
} from "@vit/tensor";
import { batchToTensor } from "./batch.js";
import { type TrainModel, type TrainOptimizer, halfDtypeOf } from "./build.js";
import type { TrainConfig } from "./config/schema.js";
import { SingleDeviceStrategy } from "./strategies/single-device.js";
import type { Strategy } from "./strategies/strategy.js";

/** What a step runs on: the model, its optimizer, and the precision/parallel setup of the run. */
export interface TrainStepSetup {
  device: Device;
  model: TrainModel;
  optimizer: TrainOptimizer;
  /** Autocast dtype of the forward (precision bf16 / 16), or null for f32. */
  half: AutocastDtype | null;
  /** precision 16: the loss scaler (the backward starts from loss × scale; the optimizer unscales). */
  scaler: LossScaler | null;
  /** trainer.gradient_clip_val; 0 disables clipping. */
  gradientClipVal: number;
  /** model.label_smoothing, for micro-batches with hard labels. */
  labelSmoothing: number;
  /** How the model is spread over devices (the backward, gradient reduction, clipping); default one device. */
  strategy?: Strategy;
}

/**
 * A micro-batch: a loader batch (host images in any of its dtypes, labels or soft targets), or inputs
 * already on the device (the bench's fixed batch; left for the caller to dispose).
 */
export type StepBatch = Pick<Batch, "labels" | "targets" | "shape"> & Pick<Batch, "images">;
export type StepInput = StepBatch | { x: Tensor; y: Tensor };

export interface TrainStepResult {
  /** Each micro-batch's loss (unscaled, kept: the caller disposes them), in order. */
  losses: Tensor[];
}

const ONE_DEVICE = new SingleDeviceStrategy();

/** The step of a run of `cfg`: its precision (autocast, loss scaler), gradient clipping and label smoothing. */
export function trainStepSetup(
  device: Device,
  cfg: TrainConfig,
  parts: { model: TrainModel; optimizer: TrainOptimizer; scaler: LossScaler | null; strategy?: Strategy },
): TrainStepSetup {
  return {
    device,
    ...parts,
    half: halfDtypeOf(cfg),
    gradientClipVal: cfg.trainer.gradient_clip_val,
    labelSmoothing: cfg.model.label_smoothing,
  };
}

/** One global batch: forward + loss + backward per micro-batch, then the update at learning rate `lr`. */
export async function trainStep(
  s: TrainStepSetup,
  microBatches: readonly StepInput[],
  opts: { lr: number; computeNorm?: boolean },
): Promise<TrainStepResult> {
  const strategy = s.strategy ?? ONE_DEVICE;
  const losses: Tensor[] = [];
  for (const mb of microBatches) losses.push(await microStep(s, strategy, mb, microBatches.length));
  await strategy.optimizerStep(s.model, s.optimizer, {
    lr: opts.lr,
    gradientClipVal: s.gradientClipVal,
    computeNorm: opts.computeNorm ?? false,
  });
  s.optimizer.zeroGrad();
  return { losses };
}

/** Forward, loss and backward of one micro-batch out of `accum`; returns its (unscaled) loss, kept. */
function microStep(s: TrainStepSetup, strategy: Strategy, mb: StepInput, accum: number): Promise<Tensor> {
  const { device, model, half, scaler } = s;
  // Built inside the strategy's scope, so that the uploaded inputs are freed with the step's temporaries.
  const lossOf = () => {
    const { x, y, soft } = inputsOf(device, mb);
    // Soft targets (mixup/cutmix) are already smoothed.
    const ceOpts = soft ? {} : { labelSmoothing: s.labelSmoothing };
    const forward = () => {
      const logits = model.forward(x);
      return logits instanceof Promise
        ? logits.then((l) => crossEntropy(l, y, ceOpts))
        : crossEntropy(logits, y, ceOpts);
    };
    return half ? autocast(half, forward) : forward();
  };
  // The loss backward starts from: averaged over the micro-batches, times the loss scale under fp16.
  const root = (loss: Tensor) => {
    const l = accum > 1 ? mulScalar(loss, 1 / accum) : loss;
    return scaler ? mul(l, scaler.scale) : l;
  };
  return strategy.forwardBackward(lossOf, root);
}

/** The micro-batch's images and labels (or soft targets) on the device. */
function inputsOf(device: Device, mb: StepInput): { x: Tensor; y: Tensor; soft: boolean } {
  if ("x" in mb) return { x: mb.x, y: mb.y, soft: false };
  const B = mb.labels.length;
  const y = mb.targets
    ? tensor(device, mb.targets, [B, mb.targets.length / B])
    : tensor(device, mb.labels, [B]);
  return { x: batchToTensor(device, mb), y, soft: !!mb.targets };
}
