/**
 * The training loop: micro-batches with gradient accumulation, the scheduled optimizer step with global
 * norm clipping (all on the GPU: the loop reads back only at log intervals), periodic evaluation,
 * atomic checkpoints with exact resume, NaN/inf detection, metrics to JSONL/CSV/SVG.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Batch, DataLoader, LoaderState } from "@vit/data";
import { TensorParallelViT, VisionTransformer } from "@vit/model";
import type { HostTensor } from "@vit/nn";
import { type LossScaler, type ScheduleConfig, lrAt } from "@vit/optim";
import {
  DataParallel,
  type ProcessGroup,
  mergeTensorParallelStateDicts,
  splitTensorParallelStateDict,
  tensorAndDataParallelGroups,
  tensorParallelLayout,
} from "@vit/parallel";
import {
  type Device,
  type Tensor,
  add,
  autocast,
  cast,
  countNonFinite,
  keep,
  noGrad,
  zeros,
} from "@vit/tensor";
import {
  type TrainModel,
  type TrainOptimizer,
  buildLoader,
  buildLossScaler,
  buildModel,
  buildOptimizer,
  evalSplitOf,
  halfDtypeOf,
  vitConfigOf,
} from "./build.js";
import {
  CHECKPOINT_FORMAT,
  CheckpointError,
  type CheckpointMeta,
  checkpointPath,
  loadCheckpoint,
  markBest,
  pruneCheckpoints,
  saveCheckpoint,
  stepOfCheckpoint,
} from "./checkpoint/checkpoint.js";
import { ConfigError } from "./config/load.js";
import { configNotes } from "./config/notes.js";
import { configYaml } from "./config/resolve.js";
import type { TrainConfig } from "./config/schema.js";
import { type EvalResult, NonFiniteLogitsError, evaluate } from "./evaluate.js";
import { MetricsLogger } from "./metrics.js";
import { loadPretrained } from "./pretrained.js";
import { type RunDir, openRunDir } from "./run-dir.js";
import { type TimePlan, openTimePlan, stepsWithinBudget } from "./time-plan.js";
import { type TrainStepSetup, trainStep } from "./train-step.js";
import { VitError, adapterKey } from "@vit/tensor";

/** `step-N.safetensors` → `step-N.rank-R.safetensors` (a data-parallel rank's optimizer shard). */
export function rankShardPath(path: string, rank: number): string {
  return path.replace(/\.safetensors$/, `.rank-${rank}.safetensors`);
}

/** The training loss became NaN or ±Inf; the message names the step and the last good checkpoint. */
export class NonFiniteLossError extends VitError {}

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
}

export interface FitResult {
  steps: number;
  epochs: number;
  wallSeconds: number;
  trainSeconds: number;
  imagesPerSecond: number;
  final: EvalResult | null;
  best: { metric: string; value: number; step: number } | null;
  checkpoint: string | null;
  runDir: string;
  /** The data `final` and the validations were measured on: "train" when there is no held-out split. */
  evalOn: "test" | "train";
}

export class Trainer {
  readonly model: TrainModel;
  readonly optimizer: TrainOptimizer;
  /** precision 16: NeMo's dynamic loss scaler (its state is checkpointed with the optimizer's). */
  readonly lossScaler: LossScaler | null;
  /** Data parallelism: null on one device, or when the distributed optimizer reduces gradients itself. */
  readonly dp: DataParallel | null;
  readonly rank: number;
  readonly worldSize: number;
  /** Tensor-parallel size (model.tensor_model_parallel_size); the data-parallel size is worldSize / tp. */
  readonly tp: number;
  step = 0;
  epoch = 0;
  private trainLoader: DataLoader | null = null;
  private valLoader: DataLoader | null = null;
  private best: { metric: string; value: number; step: number } | null = null;
  /** This run's folder, chosen when fit() starts (a new version folder, or the one resumed from). */
  private run: RunDir | null = null;
  /** Rank 0's metrics files (opened with the run folder). */
  private metrics: MetricsLogger | null = null;
  /** The step checkpoints of this run's history, oldest first: the only ones keep_last may delete. */
  private ownCheckpoints: string[] = [];
  /** The newest checkpoint written or resumed from; its weights passed the finiteness check. */
  private lastCheckpoint: string | null = null;
  /**
   * Tensor parallel: the single-device model initialised exactly as a tp = 1 run would be, split into the
   * shards when training starts (Megatron's use_cpu_initialization), so a run's weights, and with dropout 0
   * its losses, do not depend on the parallel layout. Null once used, or when resuming.
   */
  private fullInit: VisionTransformer | null = null;
  /** Global gradient norm of the last tensor-parallel step that measured one. */
  private tpGradNorm = Number.NaN;
  /**
   * Resumed from a checkpoint written at an epoch's last step: that epoch's evaluation (which follows the
   * save) is still to run.
   */
  private epochEvalPending = false;
  /** With tensor parallelism: this rank's tensor-parallel group (consecutive ranks, as Megatron's). */
  private tpGroup: ProcessGroup | null = null;
  /** The data-parallel group (null on one replica): logged losses are averaged over it. */
  private dpGroup: ProcessGroup | null = null;

  constructor(
    readonly device: Device,
    readonly cfg: TrainConfig,
    readonly events: TrainerEvents = {},
    model?: VisionTransformer,
  ) {
    device.rng.seed = cfg.trainer.seed >>> 0;
    device.rng.offset = 0;
    const group = events.group;
    this.rank = group?.rank ?? 0;
    this.worldSize = group?.worldSize ?? 1;
    this.tp = cfg.model.tensor_model_parallel_size;
    const expected = cfg.trainer.devices * cfg.trainer.num_nodes;
    if (this.worldSize !== expected) {
      throw new ConfigError(`trainer.devices × trainer.num_nodes = ${expected}, but ${this.worldSize} rank(s) are running`, {
        hint: `launch ${expected} ranks (\`vit launch --nproc ${expected} -- train ...\`) or set trainer.devices=${this.worldSize}`,
      });
    }
    let dpGroup: ProcessGroup | undefined = group;
    if (this.tp > 1) {
      if (!group || this.worldSize % this.tp) {
        throw new ConfigError(
          `model.tensor_model_parallel_size=${this.tp} needs a multiple of ${this.tp} ranks (trainer.devices × num_nodes = ${expected}): ` +
            `consecutive groups of ${this.tp} ranks split the model, and those groups train as data-parallel replicas`,
          { hint: `launch e.g. \`vit launch --nproc ${this.tp} -- train ... trainer.devices=${this.tp}\`` },
        );
      }
      if (this.worldSize > this.tp && cfg.model.optim.name === "distributed_fused_adam") {
        throw new ConfigError(
          "model.optim.name=distributed_fused_adam with tensor and data parallelism together is not supported yet",
          { hint: "use model.optim.name=adamw (or tensor parallelism alone, where there is nothing to shard it over)" },
        );
      }
      if (group.backend === "in-process") {
        throw new ConfigError(
          "tensor parallelism in the trainer needs one process per rank: " +
            "ranks sharing a process would interleave their tensor scopes across the collectives' awaits",
          { hint: "start one process per rank: `vit launch --nproc N -- train ...`" },
        );
      }
      if (!model) {
        // Drawn first, from the seed's stream start, exactly as a single-device run draws its model.
        this.fullInit = new VisionTransformer(device, vitConfigOf(cfg.model));
      }
      if (this.worldSize === this.tp) {
        this.tpGroup = group;
        dpGroup = undefined;
      } else {
        const { tp, dp } = tensorAndDataParallelGroups(this.worldSize, this.tp);
        this.tpGroup = group.split(tp);
        dpGroup = group.split(dp);
      }
    }
    const rngAfterInit = device.rng.offset;
    this.model = model ?? buildModel(device, cfg, this.tpGroup ?? group);
    // The tensor-parallel model's own draws are overwritten; continue the stream where a tp = 1 run would.
    if (this.fullInit) device.rng.offset = rngAfterInit;
    this.model.train();
    // The distributed optimizer shards over data-parallel ranks; with tensor parallelism alone there are none.
    this.dpGroup = dpGroup && dpGroup.worldSize > 1 ? dpGroup : null;
    this.lossScaler = buildLossScaler(device, cfg);
    this.optimizer = buildOptimizer(this.model, cfg, this.tp > 1 ? undefined : group, this.lossScaler);
    this.dp =
      dpGroup && dpGroup.worldSize > 1 && cfg.model.optim.name !== "distributed_fused_adam"
        ? new DataParallel(dpGroup)
        : null;
  }

  get runDir(): string {
    if (!this.run) throw new ConfigError("the run folder is chosen when fit() starts", { hint: "call fit() first" });
    return this.run.runDir;
  }

  get ckptDir(): string {
    return join(this.runDir, "checkpoints");
  }

  /** Data-parallel ranks: all ranks, divided by the tensor-parallel size. */
  get dataParallelSize(): number {
    return this.worldSize / this.tp;
  }

  /** Micro-steps per optimizer step: global_batch / (micro_batch × data-parallel size). */
  get accumulation(): number {
    const m = this.cfg.model;
    const dp = (this.cfg.trainer.devices * this.cfg.trainer.num_nodes) / this.tp;
    const global = m.global_batch_size ?? m.micro_batch_size * dp;
    if (global % (m.micro_batch_size * dp)) {
      throw new ConfigError(
        `global_batch_size ${global} is not a multiple of micro_batch_size ${m.micro_batch_size} × ${dp} data-parallel ranks`,
        { hint: `set model.global_batch_size to a multiple of ${m.micro_batch_size * dp}` },
      );
    }
    return global / (m.micro_batch_size * dp);
  }

  private log(msg: string): void {
    this.events.log?.(msg);
  }

  async loaders(): Promise<{ train: DataLoader; val: DataLoader }> {
    // The ranks of a tensor-parallel group (consecutive) all see the same batches: the split is of the
    // model, not the data. Data-parallel replica k is ranks k·tp ... k·tp + tp - 1.
    const dpRank = Math.floor(this.rank / this.tp);
    this.trainLoader ??= await buildLoader(this.cfg, "train", dpRank, this.dataParallelSize);
    this.valLoader ??= await buildLoader(this.cfg, "test");
    return { train: this.trainLoader, val: this.valLoader };
  }

  /** Optimizer steps in one epoch (0 when the data set's length is unknown). */
  stepsPerEpoch(train: DataLoader): number {
    return Math.floor((train.length ?? 0) / this.accumulation);
  }

  /**
   * The run's length in optimizer steps: the smaller of max_steps and max_epochs × steps per epoch (as
   * Lightning stops at whichever comes first); Infinity when only the time limit bounds it.
   */
  maxSteps(train: DataLoader): number {
    const t = this.cfg.trainer;
    let n = t.max_steps ?? Number.POSITIVE_INFINITY;
    if (t.max_epochs !== undefined) {
      const perEpoch = this.stepsPerEpoch(train);
      if (!perEpoch) {
        if (t.max_steps === undefined) {
          throw new ConfigError("trainer.max_epochs needs a data set whose length is known (or longer than one optimizer step)", {
            hint: "set trainer.max_steps=N instead",
          });
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
  private validationInterval(train: DataLoader): number {
    const v = this.cfg.trainer.val_check_interval;
    if (!(v > 0 && v < 1)) return v;
    const perEpoch = this.stepsPerEpoch(train);
    if (!perEpoch) {
      throw new ConfigError(
        `trainer.val_check_interval=${v} (a fraction of an epoch) needs a data set of known length; give a number of steps.`,
      );
    }
    return Math.max(1, Math.round(v * perEpoch));
  }

  /** Validation batches per evaluation (trainer.limit_val_batches: a count, or a fraction in (0, 1]). */
  private validationBatches(val: DataLoader): number {
    const l = this.cfg.trainer.limit_val_batches;
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

  private schedule(maxSteps: number): ScheduleConfig {
    const s = this.cfg.model.optim.sched;
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

  /** The log line that says how the time limit shaped the run. */
  private planLine(steps: number, maxSteps: number, how: string): string {
    const budget = this.cfg.trainer.max_time_seconds;
    return steps < maxSteps
      ? `time plan: ${steps} of ${Number.isFinite(maxSteps) ? maxSteps : "unbounded"} steps fit the ${budget} s limit on this host (${how}); the schedule anneals over them`
      : `time plan: all ${maxSteps} steps fit the ${budget} s limit on this host (${how})`;
  }

  /**
   * Steps that fit the time limit, from the measured seconds per step; every replica takes the smallest
   * (all must run the same schedule), and rank 0 caches it for the next run on this host.
   */
  private async planWithinBudget(
    plan: TimePlan,
    secondsPerStep: number,
    elapsedSeconds: number,
    train: DataLoader,
    val: DataLoader,
    evalEvery: number,
  ): Promise<number> {
    const perEpoch = this.stepsPerEpoch(train);
    const every = evalEvery > 0 ? evalEvery : perEpoch;
    // Per replica: its share of the global batch, and its share of the validation set (the loader's).
    const imagesPerStep = this.cfg.model.micro_batch_size * this.accumulation;
    let steps = stepsWithinBudget({
      step: this.step,
      elapsedSeconds,
      secondsPerStep,
      budgetSeconds: this.cfg.trainer.max_time_seconds,
      validationsBetween: (from, to) => (every > 0 ? Math.floor((to - 1) / every) - Math.floor(from / every) : 0),
      // A validation is forward only: about a third of a training step per image.
      validationSeconds: (((val.length ?? 0) * val.batchSize) / imagesPerStep) * (secondsPerStep / 3),
    });
    const group = this.events.group;
    if (group && this.worldSize > 1) steps = -(await group.allReduceValues([-steps], "max"))[0]!;
    if (this.rank === 0) await plan.save(steps, secondsPerStep);
    return steps;
  }

  /**
   * Runs until max_steps / max_epochs / max_time_seconds; evaluates and checkpoints as configured.
   * `dryRun`: everything is built and loaded as for the real run, then one optimizer step and one test
   * batch run; no checkpoint, plot or result.json is written (`vit train --dry-run`).
   */
  async fit(
    opts: {
      resumeFrom?: string | null;
      stopAtStep?: number;
      dryRun?: boolean;
      /** The clock (ms) the time limit and its plan read; tests drive it (default performance.now). */
      clock?: () => number;
    } = {},
  ): Promise<FitResult> {
    const clock = opts.clock ?? (() => performance.now());
    const t0 = performance.now();
    const budgetStart = clock();
    if (this.rank === 0) for (const note of configNotes(this.cfg)) this.log(note);
    const { train, val } = await this.loaders();
    if (train.length === 0) throw this.tooFewSamples(train);
    const evalOn = evalSplitOf(this.cfg.model.data);
    if (evalOn === "train" && this.rank === 0) {
      this.log(
        "warning: model.data.val_path is not set, so validation and the final test metrics are measured on the " +
          "TRAINING data (optimistic: they do not show overfitting). Set model.data.val_path to a held-out folder.",
      );
    }
    this.run = await openRunDir(
      this.cfg,
      opts.resumeFrom ?? this.cfg.model.resume_from_checkpoint ?? null,
      this.events.group,
    );
    this.ownCheckpoints = this.run.ownCheckpoints;
    if (this.rank === 0) {
      this.log(`run folder ${this.run.runDir}`);
      // The config this run uses, beside its metrics (NeMo's hparams.yaml): `vit train -c hparams.yaml` repeats it.
      writeFileSync(join(this.run.runDir, "hparams.yaml"), configYaml(this.cfg));
    }
    const resume = this.run.resumeFrom;
    if (resume) await this.resume(resume);
    else if (this.model instanceof TensorParallelViT) await this.initTensorParallel();
    else if (this.cfg.model.restore_from_path) {
      for (const note of await loadPretrained(this.model, this.cfg.model.restore_from_path)) this.log(note);
    }
    this.fullInit?.dispose();
    this.fullInit = null;
    if (this.rank === 0) this.metrics = new MetricsLogger(this.run.runDir, this.run.history);
    // Every replica starts from rank 0's weights (initialisation draws differ per process otherwise).
    if (this.events.group && this.worldSize > 1 && this.tp === 1) {
      await new DataParallel(this.events.group).broadcastParameters(this.model as VisionTransformer, 0);
    }
    const maxSteps = this.maxSteps(train);
    // A time limit plans the schedule over the steps it allows (time-plan.ts); until measured, the
    // schedule runs over the run's own length (or an unbounded one), which warm-up does not depend on.
    const plan = openTimePlan(this.cfg, adapterKey(this.device.adapter));
    let planned = Math.min(maxSteps, plan?.cachedSteps ?? Number.POSITIVE_INFINITY);
    let sched = this.schedule(Number.isFinite(planned) ? planned : plan ? Number.MAX_SAFE_INTEGER : planned);
    if (plan?.cachedSteps != null && this.rank === 0) this.log(this.planLine(plan.cachedSteps, maxSteps, "cached"));
    const evalEvery = this.validationInterval(train);
    this.validationBatches(val); // a bad limit_val_batches fails now, not after training
    // NeMo's create_checkpoint_callback: false writes no checkpoint at all.
    const saving = this.cfg.exp_manager.create_checkpoint_callback;
    const tc = this.cfg.trainer;
    const accum = this.accumulation;
    const baseLr = this.cfg.model.optim.lr;
    const smoothing = this.cfg.model.label_smoothing;
    const half = halfDtypeOf(this.cfg);
    const scaler = this.lossScaler;
    let stopAt = opts.dryRun ? this.step + 1 : Math.min(planned, opts.stopAtStep ?? planned);
    const firstStep = this.step;
    const device = this.device;
    let running: Tensor = keep(zeros(device, [1]));
    let runningCount = 0;
    let intervalStart = performance.now();
    let intervalImages = 0;
    let trainImages = 0;
    let trainTime = 0;
    let pending: Batch[] = [];
    const setup: TrainStepSetup = {
      device,
      model: this.model,
      optimizer: this.optimizer,
      half,
      scaler,
      gradientClipVal: tc.gradient_clip_val,
      labelSmoothing: smoothing,
      dp: this.dp,
      tpGroup: this.tp > 1 ? this.tpGroup : null,
    };
    let done = this.step >= stopAt;
    const timeLimit = tc.max_time_seconds > 0 ? tc.max_time_seconds * 1000 : Number.POSITIVE_INFINITY;
    if (this.epochEvalPending && !done && tc.val_check_interval === 0) {
      await this.validate(val, t0);
      intervalStart = performance.now();
    }
    this.epochEvalPending = false;
    while (!done) {
      this.epoch = train.epoch;
      let batches = 0;
      for await (const batch of train) {
        batches++;
        // A global batch is `accum` micro-batches (it may span an epoch boundary, as before).
        pending.push(batch);
        intervalImages += batch.labels.length;
        if (pending.length < accum) continue;
        const lr = lrAt(this.step, baseLr, sched);
        // The norm is only needed when clipping, or for the log line this step will write.
        const logging = (this.step + 1) % tc.log_every_n_steps === 0 || this.step + 1 >= stopAt;
        const stepped = await trainStep(setup, pending, { lr, computeNorm: logging });
        pending = [];
        if (stepped.tpGradNorm !== undefined) this.tpGradNorm = stepped.tpGradNorm;
        for (const loss of stepped.losses) {
          const next = noGrad(() => add(running, loss));
          running.dispose();
          loss.dispose();
          running = keep(next);
          runningCount++;
        }
        this.step++;
        // Bound the work queued ahead of the GPU (the loop itself never reads back between logs).
        await device.throttle();
        this.events.onStep?.(this.step, planned);
        if (plan?.measuring && !opts.dryRun) {
          const perStep = plan.observe(this.step, clock() / 1000, firstStep);
          if (perStep !== null) {
            const steps = await this.planWithinBudget(plan, perStep, (clock() - budgetStart) / 1000, train, val, evalEvery);
            planned = Math.min(maxSteps, steps);
            if (Number.isFinite(planned)) sched = this.schedule(planned);
            stopAt = Math.min(stopAt, planned);
            if (this.rank === 0) this.log(this.planLine(steps, maxSteps, `measured ${perStep.toFixed(3)} s/step`));
          }
        }
        const timeUp = clock() - budgetStart > timeLimit;
        const atEnd = this.step >= stopAt || timeUp;
        if (timeUp && plan && this.step < stopAt && this.rank === 0) {
          this.log(
            `warning: the time limit stopped training at step ${this.step} of the ${planned} planned: this run was slower than the one that planned it (trainer.time_plan=measure plans again)`,
          );
        }
        if (this.step % tc.log_every_n_steps === 0 || atEnd) {
          let lossMean = (await running.data())[0]! / runningCount;
          // Each replica summed the loss of its own share of the batches: log the mean over replicas
          // (one host all-reduce per log line), as NeMo does.
          if (this.dpGroup) lossMean = (await this.dpGroup.allReduceValues([lossMean], "mean"))[0]!;
          const now = performance.now();
          const dt = (now - intervalStart) / 1000;
          trainTime += dt;
          trainImages += intervalImages;
          if (!Number.isFinite(lossMean)) {
            throw this.diverged(
              `training loss became ${lossMean} at step ${this.step} (lr ${lr.toExponential(3)})`,
            );
          }
          // fp16: the host learns of skipped steps here, at log time (no readback per step).
          const sc = scaler ? await scaler.read() : null;
          const rec = {
            kind: "train",
            step: this.step,
            epoch: this.epoch,
            loss: lossMean,
            lr,
            grad_norm: this.tp > 1 ? this.tpGradNorm : await this.optimizer.lastGradNorm(),
            images_per_second: intervalImages / dt,
            elapsed_s: (now - t0) / 1000,
            ...(sc ? { loss_scale: sc.scale, skipped_steps: sc.skippedSteps } : {}),
          };
          this.metrics?.log(rec);
          this.events.onLog?.(rec);
          running.dispose();
          running = keep(zeros(device, [1]));
          runningCount = 0;
          intervalImages = 0;
          intervalStart = performance.now();
        }
        const evalNow = evalEvery > 0 && this.step % evalEvery === 0;
        if (evalNow && !atEnd) {
          await this.validate(val, t0);
          intervalStart = performance.now();
        }
        const every = this.cfg.exp_manager.checkpoint.every_n_steps;
        if (saving && every > 0 && this.step % every === 0 && !atEnd) {
          await this.save(train.state());
          intervalStart = performance.now();
        }
        if (atEnd) {
          done = true;
          break;
        }
      }
      // An epoch without a single batch would loop forever (validating each time): refuse instead.
      if (!batches) throw this.tooFewSamples(train);
      if (!done && evalEvery === 0) {
        await this.validate(val, t0);
        intervalStart = performance.now();
      }
    }
    running.dispose();
    if (opts.dryRun) return this.dryRunEnd(train, val, t0, trainTime, trainImages);
    const final = await this.validate(val, t0);
    if (saving) await this.save(train.state(), final);
    this.metrics?.writePlot();
    await train.close();
    await val.close();
    const wall = (performance.now() - t0) / 1000;
    const result: FitResult = {
      steps: this.step,
      epochs: this.epoch,
      wallSeconds: wall,
      trainSeconds: trainTime,
      imagesPerSecond: trainTime > 0 ? trainImages / trainTime : 0,
      final,
      best: this.best,
      checkpoint: this.lastCheckpoint,
      runDir: this.runDir,
      evalOn,
    };
    writeFileSync(join(this.runDir, "result.json"), JSON.stringify(result, null, 2));
    return result;
  }

  /** Top-1/top-5/loss of the model on `val` (in the run's precision), reporting progress per batch. */
  private score(val: DataLoader, maxBatches = Infinity): Promise<EvalResult> {
    const run = () => evaluate(this.model, val, maxBatches, this.events.onEvalBatch);
    const half = halfDtypeOf(this.cfg);
    return half ? autocast(half, run) : run();
  }

  /** The end of a dry run: one test batch through the evaluation path, nothing recorded or saved. */
  private async dryRunEnd(
    train: DataLoader,
    val: DataLoader,
    t0: number,
    trainTime: number,
    trainImages: number,
  ): Promise<FitResult> {
    const final = this.rank !== 0 && this.tp === 1 ? null : await this.score(val, 1);
    await train.close();
    await val.close();
    return {
      steps: this.step,
      epochs: this.epoch,
      wallSeconds: (performance.now() - t0) / 1000,
      trainSeconds: trainTime,
      imagesPerSecond: trainTime > 0 ? trainImages / trainTime : 0,
      final,
      best: null,
      checkpoint: null,
      runDir: this.runDir,
      evalOn: evalSplitOf(this.cfg.model.data),
    };
  }

  async validate(val: DataLoader, t0 = performance.now()): Promise<EvalResult> {
    // Rank 0 evaluates the whole test split; the others go on and meet it at the next collective. With
    // tensor parallelism every rank takes part in each forward, and only rank 0 records the result.
    if (this.rank !== 0 && this.tp === 1)
      return { top1: Number.NaN, top5: Number.NaN, loss: Number.NaN, images: 0 };
    let r: EvalResult;
    try {
      r = await this.score(val, this.validationBatches(val));
    } catch (e) {
      if (e instanceof NonFiniteLogitsError)
        throw this.diverged(`the model's logits became NaN or infinite by step ${this.step} (evaluation)`);
      throw e;
    }
    if (this.rank !== 0) return r;
    const rec = {
      kind: "val",
      step: this.step,
      epoch: this.epoch,
      val_loss: r.loss,
      val_top1: r.top1,
      val_top5: r.top5,
      elapsed_s: (performance.now() - t0) / 1000,
    };
    this.metrics?.log(rec);
    this.events.onLog?.(rec);
    const monitor = this.cfg.exp_manager.checkpoint.monitor;
    const value = monitor === "val_top1" ? r.top1 : r.loss;
    const better = !this.best || (monitor === "val_top1" ? value > this.best.value : value < this.best.value);
    if (better) {
      this.best = { metric: monitor, value, step: this.step };
      // Evaluated after this step's checkpoint was written (end of an epoch): copy it to best now, before
      // keep_last prunes it (save() marks best only when the best is at the step it writes).
      const last = this.lastCheckpoint;
      if (this.cfg.exp_manager.checkpoint.save_best && last && stepOfCheckpoint(last) === this.step)
        markBest(last, this.ckptDir);
    }
    return r;
  }

  /** Writes step-N.safetensors atomically; keeps the last K and a copy of the best. */
  async save(loaderState: LoaderState, evalResult?: EvalResult): Promise<string> {
    // A diverged model is never written (nor marked best): resume_if_exists would pick it up.
    const bad = await this.nonFiniteWeights();
    if (bad)
      throw this.diverged(`${bad} weights became NaN or infinite by step ${this.step}; they were not saved`);
    const path = checkpointPath(this.ckptDir, this.step);
    // Tensor parallel: rank 0 writes the merged single-device weights, so that eval/predict/convert and
    // any parallel layout can use the file; optimizer state stays per rank (rank files beside it).
    const weights = this.tp > 1 ? await this.gatherTensorParallelWeights() : null;
    const meta: CheckpointMeta = {
      format: CHECKPOINT_FORMAT,
      step: this.step,
      epoch: this.epoch,
      optimizerSteps: this.optimizer.stepCount,
      rng: { ...this.device.rng },
      loader: loaderState,
      config: this.cfg,
      metrics: evalResult
        ? { val_top1: evalResult.top1, val_top5: evalResult.top5, val_loss: evalResult.loss }
        : {},
      ...(this.trainLoader ? { classes: [...this.trainLoader.dataset.classes] } : {}),
      ...(this.best ? { best: this.best } : {}),
    };
    if (this.rank !== 0) {
      // Only sharded optimizer state is rank-specific: each rank writes its own shard beside rank 0's file.
      if (this.cfg.model.optim.name === "distributed_fused_adam" || this.tp > 1) {
        await saveCheckpoint(rankShardPath(path, this.rank), {}, this.stateTensors(), meta);
      }
      this.lastCheckpoint = path;
      return path;
    }
    await saveCheckpoint(path, weights ?? this.model.stateDict(), this.stateTensors(), meta);
    this.lastCheckpoint = path;
    // Best first: pruning must never take the file best is copied from.
    if (this.cfg.exp_manager.checkpoint.save_best && this.best && this.best.step === this.step)
      markBest(path, this.ckptDir);
    this.ownCheckpoints = pruneCheckpoints(
      [...this.ownCheckpoints, path],
      this.cfg.exp_manager.checkpoint.keep_last,
    );
    this.log(`checkpoint ${path}`);
    return path;
  }

  /** The optimizer's state tensors, and the loss scaler's under fp16 (what a checkpoint stores besides weights). */
  private stateTensors(): Record<string, Tensor> {
    return { ...this.optimizer.stateTensors(), ...this.lossScaler?.stateTensors() };
  }

  /** Restores model, optimizer, step, RNG and data position from a checkpoint. */
  async resume(path: string): Promise<void> {
    const ck = await loadCheckpoint(path);
    // `vit convert --to vit` writes weights without optimizer state or a training position.
    if ((ck.meta as { format?: string }).format === "vit-weights/1") {
      throw new CheckpointError(`resume: ${path} holds converted weights only (no optimizer state, step or data position)`, {
        hint: "start a new run from them with model.restore_from_path (or vit finetune --from)",
      });
    }
    if (this.tp > 1) {
      const savedTp = (ck.meta.config as TrainConfig).model.tensor_model_parallel_size ?? 1;
      if (savedTp !== this.tp) {
        throw new CheckpointError(
          `resume: ${path} was written with tensor_model_parallel_size=${savedTp}, this run uses ${this.tp}; its optimizer state ` +
            "is per rank",
          { hint: "resume with the same size, or start a new run from its weights with model.restore_from_path" },
        );
      }
      this.model.loadStateDict(
        splitTensorParallelStateDict(ck.model, this.model, this.tp)[this.tpGroup!.rank]!,
      );
    } else this.model.loadStateDict(ck.model);
    const bad = await this.nonFiniteWeights();
    if (bad) {
      throw new CheckpointError(
        `resume: ${path} holds ${bad} NaN or infinite weights (saved by a run that diverged). Resume from an earlier checkpoint.`,
      );
    }
    if (this.rank !== 0 && (this.cfg.model.optim.name === "distributed_fused_adam" || this.tp > 1)) {
      ck.optim = (await loadCheckpoint(rankShardPath(path, this.rank))).optim;
    }
    const own = this.stateTensors();
    for (const [k, t] of Object.entries(own)) {
      const h = ck.optim[k];
      if (!h && k.startsWith("loss_scaler.")) {
        // A checkpoint of an fp32/bf16 run continued in fp16: the scaler starts fresh.
        this.log(
          `resume: ${path} has no loss scaler state (not an fp16 run); the scaler starts at its initial scale.`,
        );
        continue;
      }
      if (!h)
        throw new CheckpointError(`resume: ${path} lacks optimizer state ${k}; was it saved with another optimizer?`, {
          hint: "resume with the model.optim.name it was saved with, or start from its weights with model.restore_from_path",
        });
      // The bytes are uploaded as they are: they must be what saveCheckpoint writes for this tensor.
      const want = t.dtype === "i32" ? "I32" : "F32";
      if (h.dtype !== want || (t.dtype !== "f32" && t.dtype !== "i32")) {
        throw new CheckpointError(
          `resume: optimizer state ${k} in ${path} is ${h.dtype}, but this optimizer keeps it as ${t.dtype} (${want} in a checkpoint). ` +
            "The file was not written by vit's trainer, or is damaged: resume from another checkpoint.",
        );
      }
      if (h.data.length !== t.numel) {
        throw new CheckpointError(
          `resume: optimizer state ${k} in ${path} has ${h.data.length} values, this model's has ${t.numel}`,
          { hint: "resume with the model config the checkpoint was saved with" },
        );
      }
      t.device.upload(t.buffer, h.data);
    }
    this.optimizer.stepCount = ck.meta.optimizerSteps;
    this.step = ck.meta.step;
    this.epoch = ck.meta.epoch;
    this.device.rng.seed = ck.meta.rng.seed;
    this.device.rng.offset = ck.meta.rng.offset;
    if (ck.meta.best) this.best = ck.meta.best;
    const { train } = await this.loaders();
    const loaderState = ck.meta.loader as LoaderState;
    train.loadState(loaderState);
    this.epochEvalPending = train.length !== undefined && loaderState.position >= train.length;
    this.lastCheckpoint = path;
    this.log(`resumed from ${path} at step ${this.step}`);
  }

  /**
   * Tensor parallel, fresh run: every rank takes its shard of the single-device initialisation (or of the
   * pretrained weights of model.restore_from_path, adapted exactly as for one device).
   */
  private async initTensorParallel(): Promise<void> {
    const full = this.fullInit;
    if (!full) return; // a model passed to the constructor keeps its weights
    const path = this.cfg.model.restore_from_path;
    if (path) for (const note of await loadPretrained(full, path)) this.log(note);
    const shards = splitTensorParallelStateDict(await full.stateDictHost(), this.model, this.tp);
    this.model.loadStateDict(shards[this.tpGroup!.rank]!);
  }

  /** The tensor-parallel shards gathered and merged into single-device weights on rank 0 (null elsewhere). */
  private async gatherTensorParallelWeights(): Promise<Record<string, HostTensor> | null> {
    const group = this.tpGroup!;
    const shards: Array<Record<string, HostTensor>> = Array.from({ length: this.tp }, () => ({}));
    const layout = tensorParallelLayout(this.model);
    for (const [name, t] of Object.entries(this.model.stateDict())) {
      if (!layout.has(name)) {
        if (this.rank !== 0) continue;
        const data = Float32Array.from((await t.data()) as ArrayLike<number>);
        for (const s of shards) s[name] = { dtype: "F32", shape: [...t.shape], data };
        continue;
      }
      const [all, own] = noGrad(() => [
        zeros(t.device, [this.tp * t.numel]),
        t.dtype === "f32" ? t : cast(t, "f32"),
      ]);
      await group.allGather(all, own);
      if (this.rank === 0) {
        const data = (await all.data()) as Float32Array;
        shards.forEach((s, r) => {
          s[name] = { dtype: "F32", shape: [...t.shape], data: data.slice(r * t.numel, (r + 1) * t.numel) };
        });
      }
      all.dispose();
      if (own !== t) own.dispose();
    }
    return this.rank === 0 ? mergeTensorParallelStateDicts(shards, layout) : null;
  }

  /** NaN/±Inf weights of the whole model: one GPU reduction per rank, summed over the tensor-parallel shards. */
  private async nonFiniteWeights(): Promise<number> {
    const bad = await countNonFinite(Object.values(this.model.stateDict()));
    return this.tpGroup ? (await this.tpGroup.allReduceValues([bad], "sum"))[0]! : bad;
  }

  /** The error that stops a diverged run, naming the newest checkpoint whose weights are finite. */
  private diverged(what: string): NonFiniteLossError {
    const good = this.lastCheckpoint
      ? `the last good checkpoint is ${this.lastCheckpoint}`
      : "no good checkpoint was saved before it";
    return new NonFiniteLossError(
      `${what}. The run stopped; ${good}. Lower model.optim.lr, set trainer.gradient_clip_val, or check the data.`,
    );
  }

  /** A training set that yields no batch (drop_last with fewer samples than one micro-batch). */
  private tooFewSamples(train: DataLoader): ConfigError {
    const mbs = this.cfg.model.micro_batch_size;
    const perRank = train.sampler?.length;
    if (perRank === undefined) {
      return new ConfigError(
        `a whole epoch of the training stream ${train.dataset.name} gave no batch of model.micro_batch_size=${mbs} ` +
          "(incomplete batches are dropped). Lower model.micro_batch_size, or add data.",
      );
    }
    const where = this.dataParallelSize > 1 ? ` (${perRank} per data-parallel rank)` : "";
    return new ConfigError(
      `the training set has ${train.dataset.length} samples${where}, fewer than model.micro_batch_size=${mbs}, so no ` +
        `batch can be formed (incomplete batches are dropped). Lower model.micro_batch_size to at most ${perRank}, or add data.`,
    );
  }

  dispose(): void {
    this.optimizer.dispose();
    this.lossScaler?.dispose();
    this.model.dispose();
    this.fullInit?.dispose();
  }
}
