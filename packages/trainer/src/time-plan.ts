/**
 * A time-capped run that still anneals. Lightning's max_time stops the loop wherever the schedule is: on a
 * host half as fast, the default job stopped at 40% of its cosine schedule with the learning rate still
 * at 6.8e-4 and reported a half-trained model (issue 15). Here, when trainer.max_time_seconds bounds a run
 * whose schedule length follows from the run's length (CosineAnnealing without its own max_steps), the
 * trainer measures seconds per step over a window of early steps and fixes the schedule's length to the
 * steps the rest of the budget allows, so the run ends at min_lr on any host.
 *
 * Determinism: a measured duration differs run to run, so the planned step count is cached per host CPU,
 * adapter and config ($VIT_CACHE_DIR/time-plans.json, beside the matmul autotune): later runs on the
 * same host read it and plan from step 0 — same schedule, same steps, same result. The first run on a
 * host matches them too when the window closes before warm-up ends (the warm-up ramp does not depend on
 * the schedule's length). `trainer.time_plan=measure` re-measures and overwrites the entry; `off` is
 * Lightning's behaviour.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir, writeFileAtomic } from "@vit/data";
import { KERNELS_VERSION, hostCpuKey } from "@vit/tensor";
import type { TrainConfig } from "./config/schema.js";

export type TimePlanMode = "auto" | "measure" | "off";

/**
 * Steps [WINDOW_START, WINDOW_END) are timed: the first ones compile pipelines and fill Mesa's caches, and
 * a longer window averages out a busy host's jitter (the default job on an AVX2 host ran its steps 10–50
 * 10% slower than its mean). It closes before the default job's 100 warm-up steps end.
 */
export const WINDOW_START = 20;
export const WINDOW_END = 90;
/**
 * Share of the remaining budget kept free for what the estimate misses (logging, checkpoints, a host that
 * slows down: the default job on an AVX2 host ran 5% slower after its window than in it). A run slower than
 * its plan by more than this is stopped by the limit, a few steps short of its schedule's end (logged).
 */
export const MARGIN = 0.07;

export interface PlanInputs {
  /** The optimizer step at which the window closed, and the seconds of the budget spent by then. */
  step: number;
  elapsedSeconds: number;
  secondsPerStep: number;
  budgetSeconds: number;
  /** Validations the run would make after `step` and before its last step `planned`. */
  validationsBetween: (step: number, planned: number) => number;
  /** Seconds one validation takes (estimated: forward only, ~1/3 of a training step per image). */
  validationSeconds: number;
}

/**
 * The number of optimizer steps (counted from 0) that fit the budget: the largest total whose remaining
 * steps and the validations they trigger take no more than the remaining seconds less a margin. The cost
 * grows with the total, so a binary search finds it exactly. Pure arithmetic, tested on its own.
 */
export function stepsWithinBudget(p: PlanInputs): number {
  const remaining = (p.budgetSeconds - p.elapsedSeconds) * (1 - MARGIN);
  const cost = (planned: number) =>
    (planned - p.step) * p.secondsPerStep + p.validationsBetween(p.step, planned) * p.validationSeconds;
  let lo = p.step; // always affordable: no more steps
  let hi = p.step + Math.max(0, Math.floor(remaining / p.secondsPerStep)) + 1; // never affordable
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (cost(mid) <= remaining) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The identity a plan is cached under: the host's CPU, the adapter, and everything that sets a step's cost. */
export function planKey(parts: { hostCpu: string; adapter: string; config: unknown }): string {
  const digest = createHash("sha256").update(JSON.stringify(parts.config)).digest("hex").slice(0, 16);
  return `${parts.hostCpu} || ${parts.adapter} || ${digest}`;
}

interface PlanEntry {
  steps: number;
  seconds_per_step: number;
  budget_seconds: number;
  measured_at: string;
}

export function timePlanCachePath(): string {
  return join(cacheDir(), "time-plans.json");
}

function readPlans(path: string): Record<string, PlanEntry> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, PlanEntry>;
  } catch {
    return {}; // no cache yet (or unreadable): measure
  }
}

/** Tracks the window and the cache for one run. */
export class TimePlan {
  /** The cached step count for this key (mode auto), else null until the window closes. */
  readonly cachedSteps: number | null;
  private windowStart: number | null = null;

  constructor(
    private readonly key: string,
    private readonly budgetSeconds: number,
    mode: TimePlanMode,
    private readonly path = timePlanCachePath(),
  ) {
    this.cachedSteps = mode === "auto" ? (readPlans(path)[key]?.steps ?? null) : null;
  }

  /** Whether a measurement is still to come. */
  get measuring(): boolean {
    return this.cachedSteps === null;
  }

  /**
   * Call after every optimizer step with the step just finished (1-based count) and the wall clock (s).
   * Returns the seconds per step once the window closes (exactly once), else null.
   */
  observe(step: number, nowSeconds: number, firstStep: number): number | null {
    if (!this.measuring) return null;
    const start = firstStep + WINDOW_START;
    if (step === start) this.windowStart = nowSeconds;
    if (step === firstStep + WINDOW_END && this.windowStart !== null) {
      return (nowSeconds - this.windowStart) / (WINDOW_END - WINDOW_START);
    }
    return null;
  }

  /** Records a measured plan (rank 0 only; several processes may race, the last complete write wins). */
  async save(steps: number, secondsPerStep: number): Promise<void> {
    const plans = readPlans(this.path);
    plans[this.key] = {
      steps,
      seconds_per_step: secondsPerStep,
      budget_seconds: this.budgetSeconds,
      measured_at: new Date().toISOString(),
    };
    await writeFileAtomic(this.path, [new TextEncoder().encode(`${JSON.stringify(plans, null, 2)}\n`)]);
  }
}

/**
 * The run's plan, or null when none applies: no time limit, `time_plan: off`, a schedule that does not
 * anneal over the run's length, or outside Node (no host identity to cache under).
 */
export function openTimePlan(cfg: TrainConfig, adapter: string): TimePlan | null {
  const t = cfg.trainer;
  const s = cfg.model.optim.sched;
  if (t.time_plan === "off" || !(t.max_time_seconds > 0)) return null;
  if (s.name !== "CosineAnnealing" || s.max_steps !== undefined) return null;
  const hostCpu = hostCpuKey();
  if (!hostCpu) return null;
  // The run's length does not change a step's cost, so the plan outlives edits of max_steps/max_epochs;
  // new kernels do, so a plan measured with older ones is measured again.
  const { max_steps: _s, max_epochs: _e, time_plan: _p, ...trainer } = t;
  return new TimePlan(
    planKey({ hostCpu, adapter, config: { model: cfg.model, trainer, kernels: KERNELS_VERSION } }),
    t.max_time_seconds,
    t.time_plan,
  );
}
