/**
 * What one fit() loop runs against: its loaders, its length, where it stops, its learning-rate schedule,
 * its time budget and its log. Length, stop and schedule change at most once, when the time plan is
 * measured (time-budget.ts): a cached plan shortens the run from the start, a plan still to be measured
 * leaves the schedule's length provisional (warm-up does not depend on it) until then.
 */
import type { DataLoader } from "@vit/data";
import type { ScheduleConfig } from "@vit/optim";
import type { TrainConfig } from "./config/schema.js";
import { lrSchedule } from "./run-plan.js";
import type { TimeBudget } from "./time-budget.js";
import type { TrainLog } from "./train-log.js";

export interface LoopPlan {
  train: DataLoader;
  val: DataLoader;
  /** The run's length in optimizer steps (the progress bar's total). */
  maxSteps: number;
  stopAt: number;
  sched: ScheduleConfig;
  budget: TimeBudget;
  log: TrainLog;
}

export function loopPlan(
  cfg: TrainConfig,
  run: {
    train: DataLoader;
    val: DataLoader;
    maxSteps: number;
    step: number;
    stopAtStep?: number;
    dryRun?: boolean;
    budget: TimeBudget;
    log: TrainLog;
    note: (msg: string) => void;
  },
): LoopPlan {
  const { budget, maxSteps } = run;
  const length = Math.min(maxSteps, budget.cachedSteps);
  if (Number.isFinite(budget.cachedSteps)) run.note(budget.describe(length, maxSteps, "cached"));
  const provisional = budget.measuring && !Number.isFinite(length);
  return {
    train: run.train,
    val: run.val,
    maxSteps: length,
    stopAt: run.dryRun ? run.step + 1 : Math.min(length, run.stopAtStep ?? length),
    sched: lrSchedule(cfg, provisional ? Number.MAX_SAFE_INTEGER : length),
    budget,
    log: run.log,
  };
}

/** The measured plan: the schedule anneals over `steps` when fewer than the run's length fit the limit. */
export function replan(cfg: TrainConfig, p: LoopPlan, steps: number): void {
  if (steps >= p.maxSteps) return;
  p.maxSteps = steps;
  p.sched = lrSchedule(cfg, steps);
  p.stopAt = Math.min(p.stopAt, steps);
}
