/**
 * trainer.max_time_seconds (Lightning's max_time): the run stops after the first optimizer step that ends
 * past the budget, counted from the start of fit() (set-up, validation and checkpoints included). The one
 * place the loop asks about time, so that a plan around the budget can grow here.
 */
import type { TrainConfig } from "./config/schema.js";

export class TimeBudget {
  /** The budget in ms; Infinity when the run has none. */
  readonly limitMs: number;

  constructor(
    cfg: TrainConfig,
    /** performance.now() when fit() started. */
    readonly startMs: number,
  ) {
    const s = cfg.trainer.max_time_seconds;
    this.limitMs = s > 0 ? s * 1000 : Number.POSITIVE_INFINITY;
  }

  /** Whether the run has used up its time (checked after each optimizer step). */
  spent(now = performance.now()): boolean {
    return now - this.startMs > this.limitMs;
  }
}
