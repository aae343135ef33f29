/** Evaluation: top-1, top-5 and mean cross-entropy over a loader, forward only. */
import type { DataLoader } from "@vit/data";
import type { ViTConfig } from "@vit/model";
import { type Device, type Tensor, VitError, noGrad, scope } from "@vit/tensor";
import { batchToTensor } from "./batch.js";
import { ConfigError } from "./config/load.js";

/** What evaluation needs of a model: VisionTransformer, or TensorParallelViT whose forward is async. */
export interface EvalModel {
  readonly device: Device;
  readonly config: ViTConfig;
  training: boolean;
  train(mode?: boolean): unknown;
  eval(): unknown;
  forward(x: Tensor): Tensor | Promise<Tensor>;
}

export interface EvalResult {
  top1: number;
  top5: number;
  loss: number;
  images: number;
}

/** Logits that are NaN or ±Inf: the model diverged (or its checkpoint holds non-finite weights). */
export class NonFiniteLogitsError extends VitError {}

/**
 * Per-row log-softmax loss and whether the label is in the top 1 / top 5, from host logits. The label is
 * in the top k only when fewer than k other classes score at least as high (a tie goes against it, so
 * constant logits score 0 top-1), and never when a logit of its row is NaN or ±Inf: such rows are counted
 * in `nonFinite`, and the loss then is NaN.
 */
export function scoreLogits(
  logits: Float32Array,
  labels: Int32Array,
  classes: number,
): { loss: number; top1: number; top5: number; nonFinite: number } {
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  let nonFinite = 0;
  for (let r = 0; r < labels.length; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const y = labels[r]!;
    if (!(y >= 0 && y < classes)) {
      throw new ConfigError(
        `evaluation: label ${y} is outside the model's ${classes} classes (model.num_classes=${classes}). ` +
          "Evaluate on data with the classes the model was trained on, or train with a larger model.num_classes.",
      );
    }
    if (!row.every(Number.isFinite)) {
      nonFinite++;
      loss = Number.NaN;
      continue;
    }
    let m = Number.NEGATIVE_INFINITY;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    loss += m + Math.log(s) - row[y]!;
    // Rank of the true class: how many other classes score at least as high.
    let atLeast = 0;
    for (let c = 0; c < classes; c++) if (c !== y && row[c]! >= row[y]!) atLeast++;
    if (atLeast < 1) top1++;
    if (atLeast < 5) top5++;
  }
  return { loss, top1, top5, nonFinite };
}

/**
 * Top-1, top-5 and mean loss over `loader`. Throws NonFiniteLogitsError when any logit is NaN or ±Inf:
 * a score over such outputs would measure nothing (the trainer treats a non-finite loss the same way).
 * Scores up to `maxBatches` batches; `onBatch(done, total)` follows progress (total: the batches this call
 * will run, 0 when the loader's length is unknown).
 */
export async function evaluate(
  model: EvalModel,
  loader: DataLoader,
  maxBatches = Infinity,
  onBatch?: (done: number, total: number) => void,
): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  const classes = model.config.num_classes;
  let n = 0;
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  let nonFinite = 0;
  let b = 0;
  // A limited evaluation reads the first maxBatches batches every time (as Lightning's limit_val_batches):
  // rewind the loader after stopping early, or the next evaluation would continue where this one stopped.
  const start = loader.state();
  let stopped = false;
  const total = Math.min(loader.length ?? 0, maxBatches);
  try {
    for await (const batch of loader) {
      if (b++ >= maxBatches) {
        stopped = true;
        break;
      }
      // Under a tensor-parallel forward every rank of the group runs this loop in step (one process each).
      const logits = await scope(() =>
        noGrad(() => model.forward(batchToTensor(model.device, batch))),
      );
      const host = (await logits.data()) as Float32Array;
      logits.dispose();
      const s = scoreLogits(host, batch.labels, classes);
      loss += s.loss;
      top1 += s.top1;
      top5 += s.top5;
      nonFinite += s.nonFinite;
      n += batch.labels.length;
      onBatch?.(b, total);
    }
  } finally {
    model.train(wasTraining);
  }
  if (stopped) loader.loadState(start);
  if (nonFinite) {
    throw new NonFiniteLogitsError(
      `evaluation: the model's logits are NaN or infinite for ${nonFinite} of ${n} images, so no score is reported. ` +
        "Its weights are not finite (a diverged run?): use an earlier checkpoint, or lower model.optim.lr and retrain.",
    );
  }
  return { top1: n ? top1 / n : 0, top5: n ? top5 / n : 0, loss: n ? loss / n : 0, images: n };
}
