/**
 * Validation during fit (Lightning's validation loop): the model scored on the test split in the run's
 * precision, on trainer.limit_val_batches batches, by the ranks the strategy names; a non-finite score
 * stops the run as a divergence would.
 */
import type { DataLoader } from "@vit/data";
import { autocast } from "@vit/tensor";
import { type TrainModel, halfDtypeOf } from "./build.js";
import type { TrainConfig } from "./config/schema.js";
import { type EvalResult, NonFiniteLogitsError, evaluate } from "./evaluate.js";
import { divergedError } from "./run-errors.js";
import { validationBatches } from "./run-plan.js";
import type { Strategy } from "./strategies/strategy.js";

/** Where a validation happens in the run, for its record and its error. */
export interface ValidationPoint {
  step: number;
  epoch: number;
  /** performance.now() when fit() started. */
  t0: number;
  /** The newest good checkpoint, named when the model turns out to have diverged. */
  lastCheckpoint: string | null;
}

export class Validation {
  constructor(
    private readonly model: TrainModel,
    private readonly cfg: TrainConfig,
    private readonly strategy: Strategy,
    private readonly onEvalBatch?: (done: number, total: number) => void,
  ) {}

  /** Top-1/top-5/loss of the model on `val` (in the run's precision), reporting progress per batch. */
  score(val: DataLoader, maxBatches = Number.POSITIVE_INFINITY): Promise<EvalResult> {
    const run = () => evaluate(this.model, val, maxBatches, this.onEvalBatch);
    const half = halfDtypeOf(this.cfg);
    return half ? autocast(half, run) : run();
  }

  /**
   * One validation of the run: the result, and on rank 0 its metrics record. Ranks that do not evaluate
   * return NaN at once and meet the others at the next collective.
   */
  async run(
    val: DataLoader,
    at: ValidationPoint,
  ): Promise<{ result: EvalResult; record: Record<string, number | string> | null }> {
    if (!this.strategy.evaluates) {
      return { result: { top1: Number.NaN, top5: Number.NaN, loss: Number.NaN, images: 0 }, record: null };
    }
    let r: EvalResult;
    try {
      r = await this.score(val, validationBatches(this.cfg, val));
    } catch (e) {
      if (e instanceof NonFiniteLogitsError) {
        const what = `the model's logits became NaN or infinite by step ${at.step} (evaluation)`;
        throw divergedError(what, at.lastCheckpoint);
      }
      throw e;
    }
    if (this.strategy.rank !== 0) return { result: r, record: null };
    const record = {
      kind: "val",
      step: at.step,
      epoch: at.epoch,
      val_loss: r.loss,
      val_top1: r.top1,
      val_top5: r.top5,
      elapsed_s: (performance.now() - at.t0) / 1000,
    };
    return { result: r, record };
  }
}
