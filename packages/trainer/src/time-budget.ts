/**
 * trainer.max_time_seconds (Lightning's max_time) and the plan that fits the schedule into it. The run stops
 * after the first optimizer step that ends past the budget, counted from the start of fit() (set-up,
 * validation and checkpoints included) — and with trainer.time_plan auto/measure the cosine schedule is
 * planned over the steps the budget allows, so a slow host still ends its run annealed (time-plan.ts).
 * The one place the loop asks about time.
 */
import type { ProcessGroup } from "@vit/parallel";
import type { TrainConfig } from "./config/schema.js";
import { type TimePlan, openTimePlan, stepsWithinBudget } from "./time-plan.js";

/** What the plan needs to know of the run besides the clock (fixed when fit() starts). */
export interface BudgetContext {
  /** The adapter's identity (the plan is cached per host CPU and adapter). */
  adapter: string;
  /** The step fit() starts from (0, or the resumed step). */
  firstStep: number;
  /** Validations a run would make after step `from` and before its last step `to`. */
  validationsBetween: (from: number, to: number) => number;
  /** One validation's cost in training steps (forward only over the validation set). */
  validationSteps: number;
  /** Every replica must run the same schedule: the smallest plan of all (identity on one process). */
  agree: (steps: number) => Promise<number>;
  /** Whether this process records the plan in the cache (rank 0). */
  records: boolean;
}

export class TimeBudget {
  /** The budget in ms; Infinity when the run has none. */
  readonly limitMs: number;
  readonly startMs: number;
  private readonly plan: TimePlan | null;

  constructor(
    cfg: TrainConfig,
    private readonly ctx: BudgetContext,
    /** The clock (ms); tests drive it. */
    private readonly clock: () => number = () => performance.now(),
  ) {
    const s = cfg.trainer.max_time_seconds;
    this.limitMs = s > 0 ? s * 1000 : Number.POSITIVE_INFINITY;
    this.startMs = clock();
    this.plan = openTimePlan(cfg, ctx.adapter);
  }

  /** Steps a cached plan allows (Infinity: none yet, or no plan). */
  get cachedSteps(): number {
    return this.plan?.cachedSteps ?? Number.POSITIVE_INFINITY;
  }

  /** Whether a plan will be measured during this run (the schedule's length is provisional until then). */
  get measuring(): boolean {
    return this.plan?.measuring ?? false;
  }

  /** Whether the run has used up its time (checked after each optimizer step). */
  spent(): boolean {
    return this.clock() - this.startMs > this.limitMs;
  }

  /**
   * Call after each optimizer step. Once the measurement window closes: the number of steps (from 0) that
   * fit the budget, agreed by all replicas and cached by rank 0, with the measured seconds per step.
   */
  async afterStep(step: number): Promise<{ steps: number; secondsPerStep: number } | null> {
    const plan = this.plan;
    if (!plan?.measuring) return null;
    const secondsPerStep = plan.observe(step, this.clock() / 1000, this.ctx.firstStep);
    if (secondsPerStep === null) return null;
    const steps = await this.ctx.agree(
      stepsWithinBudget({
        step,
        elapsedSeconds: (this.clock() - this.startMs) / 1000,
        secondsPerStep,
        budgetSeconds: this.limitMs / 1000,
        validationsBetween: this.ctx.validationsBetween,
        validationSeconds: this.ctx.validationSteps * secondsPerStep,
      }),
    );
    if (this.ctx.records) await plan.save(steps, secondsPerStep);
    return { steps, secondsPerStep };
  }

  /** A warning when the limit ends a planned run before its last planned step. */
  cutShort(step: number, stopAt: number): string | null {
    if (!this.plan || !(step < stopAt) || !this.spent()) return null;
    const why = this.plan.measuring
      ? "the run slowed down after its plan was measured"
      : "this run was slower than the one that planned it (trainer.time_plan=measure plans again)";
    return `warning: the time limit stopped training at step ${step} of the ${stopAt} planned: ${why}`;
  }

  /** The log line that says how the limit shaped the run. */
  describe(steps: number, maxSteps: number, how: string): string {
    const limit = this.limitMs / 1000;
    return steps < maxSteps
      ? `time plan: ${steps} of ${Number.isFinite(maxSteps) ? maxSteps : "unbounded"} steps fit the ${limit} s limit on this host (${how}); the schedule anneals over them`
      : `time plan: all ${maxSteps} steps fit the ${limit} s limit on this host (${how})`;
  }
}

/** The run's budget from what fit() knows when it starts. */
export function runBudget(
  cfg: TrainConfig,
  run: {
    adapter: string;
    firstStep: number;
    /** Steps between validations (0: at epoch ends, `epochValidationSteps` apart). */
    evalEvery: number;
    /** Steps between epoch-end validations: steps per epoch × check_val_every_n_epoch. */
    epochValidationSteps: number;
    /** This replica's validation images and training images per optimizer step. */
    valImages: number;
    imagesPerStep: number;
    group?: ProcessGroup;
    rank: number;
    clock?: () => number;
  },
): TimeBudget {
  const every = run.evalEvery > 0 ? run.evalEvery : run.epochValidationSteps;
  const group = run.group && run.group.worldSize > 1 ? run.group : null;
  return new TimeBudget(
    cfg,
    {
      adapter: run.adapter,
      firstStep: run.firstStep,
      validationsBetween: (from, to) =>
        every > 0 ? Math.floor((to - 1) / every) - Math.floor(from / every) : 0,
      // Forward only: about a third of a training step per image.
      validationSteps: run.valImages / run.imagesPerStep / 3,
      agree: async (n) => (group ? -(await group.allReduceValues([-n], "max"))[0]! : n),
      records: run.rank === 0,
    },
    run.clock,
  );
}
