/**
 * One optimizer step of training, as `Trainer.fit` runs it and the bench times it: for each micro-batch of
 * the global batch, the forward (under autocast when training in half precision), the cross-entropy loss,
 * and the backward of the loss averaged over the micro-batches (times the loss scale under fp16); then the
 * data-parallel gradient all-reduce, clipping, the optimizer update and zero_grad. Nothing is read back to
 * the host (the loop syncs at log time), except the tensor-parallel gradient norm, which is an all-reduce.
 */
import type { Batch } from "@vit/data";
import { TensorParallelViT } from "@vit/model";
import type { LossScaler } from "@vit/optim";
import {
  type DataParallel,
  type ProcessGroup,
  backwardAsync,
  clipGradNormTensorParallel,
} from "@vit/parallel";
import {
  type AutocastDtype,
  type Device,
  type Tensor,
  autocast,
  crossEntropy,
  keep,
  mul,
  mulScalar,
  scope,
  tensor,
} from "@vit/tensor";
import { batchToTensor } from "./batch.js";
import type { TrainModel, TrainOptimizer } from "./build.js";

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
  /** Data-parallel replicas (not the distributed optimizer): gradients are all-reduced before the update. */
  dp?: DataParallel | null;
  /** Tensor parallelism: the group whose shards make up the global gradient norm. */
  tpGroup?: ProcessGroup | null;
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
  /** With tensor parallelism, the global gradient norm when it was computed (clipping or computeNorm). */
  tpGradNorm?: number;
}

/** One global batch: forward + loss + backward per micro-batch, then the update at learning rate `lr`. */
export async function trainStep(
  s: TrainStepSetup,
  microBatches: readonly StepInput[],
  opts: { lr: number; computeNorm?: boolean },
): Promise<TrainStepResult> {
  const losses: Tensor[] = [];
  for (const mb of microBatches) losses.push(await microStep(s, mb, microBatches.length));
  return { losses, ...(await applyGradients(s, opts)) };
}

/** Forward, loss and backward of one micro-batch out of `accum`; returns its (unscaled) loss, kept. */
async function microStep(s: TrainStepSetup, mb: StepInput, accum: number): Promise<Tensor> {
  const { device, model, half, scaler } = s;
  const inputs = () => {
    if ("x" in mb) return { x: mb.x, y: mb.y, ceOpts: { labelSmoothing: s.labelSmoothing } };
    const B = mb.labels.length;
    const y = mb.targets
      ? tensor(device, mb.targets, [B, mb.targets.length / B])
      : tensor(device, mb.labels, [B]);
    return {
      x: batchToTensor(device, mb),
      y,
      ceOpts: mb.targets ? {} : { labelSmoothing: s.labelSmoothing },
    };
  };
  // The loss backward starts from: averaged over the micro-batches, times the loss scale under fp16.
  const scaled = (loss: Tensor) => {
    const l = accum > 1 ? mulScalar(loss, 1 / accum) : loss;
    return scaler ? mul(l, scaler.scale) : l;
  };
  if (model instanceof TensorParallelViT) {
    return scope(async () => {
      const { x, y, ceOpts } = inputs();
      const forward = async () => crossEntropy(await model.forward(x), y, ceOpts);
      const loss = half ? await autocast(half, forward) : await forward();
      // Collectives inside the graph: the asynchronous backward awaits them.
      await backwardAsync(scaled(loss));
      return keep(loss);
    });
  }
  // One device: the synchronous forward and backward, all recorded into one command encoder.
  return scope(() => {
    const { x, y, ceOpts } = inputs();
    const forward = () => crossEntropy(model.forward(x), y, ceOpts);
    const loss = half ? autocast(half, forward) : forward();
    scaled(loss).backward();
    return keep(loss);
  });
}

/** All-reduce (data parallel), clip, update, zero the gradients. */
async function applyGradients(
  s: TrainStepSetup,
  opts: { lr: number; computeNorm?: boolean },
): Promise<{ tpGradNorm?: number }> {
  const { model, optimizer } = s;
  if (s.dp) await s.dp.allReduceGradients(model);
  let out: { tpGradNorm?: number } = {};
  if (s.tpGroup && s.tpGroup.worldSize > 1) {
    // The optimizer sees only this rank's shards: the global norm sums them over the group.
    if (s.gradientClipVal > 0 || opts.computeNorm) {
      out = { tpGradNorm: await clipGradNormTensorParallel(s.tpGroup, model, s.gradientClipVal) };
    }
    await optimizer.step({ lr: opts.lr, maxGradNorm: 0, computeNorm: false });
  } else {
    await optimizer.step({
      lr: opts.lr,
      maxGradNorm: s.gradientClipVal,
      computeNorm: opts.computeNorm ?? false,
    });
  }
  optimizer.zeroGrad();
  return out;
}
