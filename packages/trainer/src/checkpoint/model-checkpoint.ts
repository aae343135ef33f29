/**
 * Which checkpoints a run keeps (Lightning's ModelCheckpoint callback, with NeMo's exp_manager keys): the
 * best validation score so far by exp_manager.checkpoint.monitor with a copy of its file as
 * best.safetensors (save_best), the newest file written or resumed from, and the last keep_last step files
 * of this run's history. Rank 0's bookkeeping; the files are written by the strategy.
 */
import type { TrainConfig } from "../config/schema.js";
import type { EvalResult } from "../evaluate.js";
import { markBest, pruneCheckpoints, stepOfCheckpoint } from "./checkpoint.js";

export interface BestScore {
  metric: string;
  value: number;
  step: number;
}

export class ModelCheckpoint {
  best: BestScore | null = null;
  /** The newest checkpoint written or resumed from; its weights passed the finiteness check. */
  last: string | null = null;
  /** The step checkpoints of this run's history, oldest first: the only ones keep_last may delete. */
  private own: string[] = [];
  private dir = "";

  constructor(private readonly opts: TrainConfig["exp_manager"]["checkpoint"]) {}

  /** The run's checkpoint folder and the step files of its history already there. */
  open(dir: string, own: string[]): void {
    this.dir = dir;
    this.own = own;
  }

  /** A validation result at `step`: it becomes the best when it beats it on the monitored metric. */
  validated(r: EvalResult, step: number): void {
    const monitor = this.opts.monitor;
    const value = monitor === "val_top1" ? r.top1 : r.loss;
    const better = !this.best || (monitor === "val_top1" ? value > this.best.value : value < this.best.value);
    if (!better) return;
    this.best = { metric: monitor, value, step };
    // Evaluated after this step's checkpoint was written (end of an epoch): copy it to best now, before
    // keep_last prunes it (saved() marks best only when the best is at the step it writes).
    const last = this.last;
    if (this.opts.save_best && last && stepOfCheckpoint(last) === step) markBest(last, this.dir);
  }

  /** Rank 0 wrote `path` at `step`: copy it to best when it is the best, then prune to keep_last. */
  saved(path: string, step: number): void {
    this.last = path;
    // Best first: pruning must never take the file best is copied from.
    if (this.opts.save_best && this.best && this.best.step === step) markBest(path, this.dir);
    this.own = pruneCheckpoints([...this.own, path], this.opts.keep_last);
  }
}
