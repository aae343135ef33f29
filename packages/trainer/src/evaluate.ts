/** Evaluation: top-1, top-5 and mean cross-entropy over a loader, forward only. */
import type { DataLoader } from "@vit/data";
import type { ViTConfig } from "@vit/model";
import { type Device, type Tensor, noGrad, scope, tensor } from "@vit/tensor";

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

/** Per-row log-softmax loss and whether the label is in the top 1 / top 5, from host logits. */
export function scoreLogits(
  logits: Float32Array,
  labels: Int32Array,
  classes: number,
): { loss: number; top1: number; top5: number } {
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  for (let r = 0; r < labels.length; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const y = labels[r]!;
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    loss += m + Math.log(s) - row[y]!;
    // Rank of the true class: how many classes score strictly higher (ties count in its favour).
    let higher = 0;
    for (let c = 0; c < classes; c++) if (row[c]! > row[y]!) higher++;
    if (higher === 0) top1++;
    if (higher < 5) top5++;
  }
  return { loss, top1, top5 };
}

/**
 * Scores `model` on up to `maxBatches` batches of `loader`. `onBatch(done, total)` follows progress (total:
 * the batches this call will run, 0 when the loader's length is unknown).
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
  let b = 0;
  const total = Math.min(loader.length ?? 0, maxBatches);
  try {
    for await (const batch of loader) {
      if (b++ >= maxBatches) break;
      const images = batch.images instanceof Float32Array ? batch.images : Float32Array.from(batch.images);
      // Under a tensor-parallel forward every rank of the group runs this loop in step (one process each).
      const logits = await scope(() =>
        noGrad(() => model.forward(tensor(model.device, images, batch.shape))),
      );
      const host = (await logits.data()) as Float32Array;
      logits.dispose();
      const s = scoreLogits(host, batch.labels, classes);
      loss += s.loss;
      top1 += s.top1;
      top5 += s.top5;
      n += batch.labels.length;
      onBatch?.(b, total);
    }
  } finally {
    model.train(wasTraining);
  }
  return { top1: n ? top1 / n : 0, top5: n ? top5 / n : 0, loss: n ? loss / n : 0, images: n };
}
