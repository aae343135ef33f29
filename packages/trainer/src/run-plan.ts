/**
 * The run's shape from its config and data: micro-steps per optimizer step, steps per epoch, the run's
 * length, when to validate and on how many batches, and the learning-rate schedule over that length.
 */
import type { DataLoader } from "@vit/data";
import type { ScheduleConfig } from "@vit/optim";
import { ConfigError } from "./config/load.js";
import type { TrainConfig } from "./config/schema.js";

/** Micro-steps per optimizer step: global_batch / (micro_batch × data-parallel size). */
export function accumulation(cfg: TrainConfig): number {
  const m = cfg.model;
  const dp = (cfg.trainer.devices * cfg.trainer.num_nodes) / m.tensor_model_parallel_size;
  const global = m.global_batch_size ?? m.micro_batch_size * dp;
  if (global % (m.micro_batch_size * dp)) {
    throw new ConfigError(
      `global_batch_size ${global} is not a multiple of micro_batch_size ${m.micro_batch_size} × ${dp} data-parallel ranks`,
      { hint: `set model.global_batch_size to a multiple of ${m.micro_batch_size * dp}` },
    );
  }
  return global / (m.micro_batch_size * dp);
}

/** Optimizer steps in one epoch (0 when the data set's length is unknown). */
export function stepsPerEpoch(cfg: TrainConfig, train: DataLoader): number {
  return Math.floor((train.length ?? 0) / accumulation(cfg));
}

/**
 * The run's length in optimizer steps: the smaller of max_steps and max_epochs × steps per epoch (as
 * Lightning stops at whichever comes first); Infinity when only the time limit bounds it.
 */
export function maxSteps(cfg: TrainConfig, train: DataLoader): number {
  const t = cfg.trainer;
  let n = t.max_steps ?? Number.POSITIVE_INFINITY;
  if (t.max_epochs !== undefined) {
    const perEpoch = stepsPerEpoch(cfg, train);
    if (!perEpoch) {
      if (t.max_steps === undefined) {
        throw new ConfigError(
          "trainer.max_epochs needs a data set whose length is known (or longer than one optimizer step)",
          {
            hint: "set trainer.max_steps=N instead",
          },
        );
      }
    } else n = Math.min(n, t.max_epochs * perEpoch);
  }
  if (!Number.isFinite(n) && !(t.max_time_seconds > 0)) {
    throw new ConfigError("the run has no bound", {
      hint: "set trainer.max_steps=N, trainer.max_epochs=N or trainer.max_time_seconds=S",
    });
  }
  return n;
}

/** Steps between validations: val_check_interval (steps, or a fraction of an epoch); 0 = end of epoch. */
export function validationInterval(cfg: TrainConfig, train: DataLoader): number {
  const v = cfg.trainer.val_check_interval;
  if (!(v > 0 && v < 1)) return v;
  const perEpoch = stepsPerEpoch(cfg, train);
  if (!perEpoch) {
    throw new ConfigError(
      `trainer.val_check_interval=${v} (a fraction of an epoch) needs a data set of known length; give a number of steps.`,
    );
  }
  return Math.max(1, Math.round(v * perEpoch));
}

/** Validation batches per evaluation (trainer.limit_val_batches: a count, or a fraction in (0, 1]). */
export function validationBatches(cfg: TrainConfig, val: DataLoader): number {
  const l = cfg.trainer.limit_val_batches;
  if (l === undefined || l === 1) return Number.POSITIVE_INFINITY;
  if (l > 1) return l;
  // A fraction, as Lightning counts it: ⌊fraction × batches⌋, which must leave at least one.
  const n = Math.floor(l * (val.length ?? 0));
  if (n < 1) {
    throw new ConfigError(
      `trainer.limit_val_batches=${l} of ${val.length ?? "an unknown number of"} validation batches leaves none; give a batch count or a larger fraction.`,
    );
  }
  return n;
}

/** model.optim.sched over a run of `maxSteps` (CosineAnnealing needs a finite length). */
export function lrSchedule(cfg: TrainConfig, maxSteps: number): ScheduleConfig {
  const s = cfg.model.optim.sched;
  if (s.name === "CosineAnnealing") {
    const length = s.max_steps ?? maxSteps;
    if (!Number.isFinite(length)) {
      throw new ConfigError(
        "CosineAnnealing needs a length and the run is bounded by time only: set model.optim.sched.max_steps.",
      );
    }
    return {
      name: "CosineAnnealing",
      max_steps: length,
      min_lr: s.min_lr,
      ...(s.constant_steps !== undefined ? { constant_steps: s.constant_steps } : {}),
      ...(s.warmup_steps !== undefined ? { warmup_steps: s.warmup_steps } : {}),
      ...(s.warmup_ratio !== undefined ? { warmup_ratio: s.warmup_ratio } : {}),
    };
  }
  return s as ScheduleConfig;
}
