/** What a Trainer reports while it runs, and how fit() is asked to run. */
import type { ProcessGroup } from "@vit/parallel";
import type { Strategy } from "./strategies/strategy.js";

export interface TrainerEvents {
  /** Called after every logged training interval and evaluation (progress bars, tests). */
  onLog?: (rec: Record<string, number | string>) => void;
  /** Progress: (step, maxSteps) after every optimizer step. Cheap; no GPU sync. */
  onStep?: (step: number, maxSteps: number) => void;
  /** Progress of an evaluation: (batches done, batches in the split) after every batch. */
  onEvalBatch?: (done: number, total: number) => void;
  log?: (msg: string) => void;
  /**
   * The process group of all ranks (one process or Device per rank); omitted for a single device. It is the
   * data-parallel group, or with model.tensor_model_parallel_size > 1 the tensor-parallel group.
   */
  group?: ProcessGroup;
  /** How the run is spread over the ranks; default: createStrategy(cfg, group). */
  strategy?: Strategy;
}

export interface FitOptions {
  /** A checkpoint to resume from (default: model.resume_from_checkpoint, or the run folder's last). */
  resumeFrom?: string | null;
  /** Stop after this optimizer step (the schedule still spans the whole run). */
  stopAtStep?: number;
  /** Build and load everything, run one optimizer step and one test batch, write nothing (`vit train --dry-run`). */
  dryRun?: boolean;
  /** The clock (ms) the time limit and its plan read; tests drive it (default performance.now). */
  clock?: () => number;
}
