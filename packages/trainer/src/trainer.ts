/**
 * The training loop: micro-batches with gradient accumulation, the scheduled optimizer step (trainStep:
 * all on the GPU, the loop reads back only at log intervals), periodic evaluation, atomic checkpoints with
 * exact resume, NaN/inf detection, metrics to JSONL/CSV/SVG. Everything that depends on the parallel
 * layout is the strategy's (strategies/); the run's shape from the config is run-plan.ts's.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Batch, DataLoader, LoaderState } from "@vit/data";
import type { VisionTransformer } from "@vit/model";
import { type LossScaler, lrAt } from "@vit/optim";
import { type Device, adapterKey } from "@vit/tensor";
import { type TrainModel, type TrainOptimizer, buildLoader, buildLossScaler, evalSplitOf } from "./build.js";
import { RunCheckpoints } from "./checkpoint/run-checkpoints.js";
import { ConfigError } from "./config/load.js";
import { configNotes } from "./config/notes.js";
import { configYaml } from "./config/resolve.js";
import type { TrainConfig } from "./config/schema.js";
import type { EvalResult } from "./evaluate.js";
import { type FitResult, fitResult } from "./fit-result.js";
import { type LoopPlan, loopPlan, replan } from "./loop-plan.js";
import { MetricsLogger } from "./metrics.js";
import { type RunDir, openRunDir } from "./run-dir.js";
import { tooFewSamplesError } from "./run-errors.js";
import * as plan from "./run-plan.js";
import { createStrategy } from "./strategies/create.js";
import type { Strategy } from "./strategies/strategy.js";
import { runBudget } from "./time-budget.js";
import { TrainLog } from "./train-log.js";
import { type TrainStepSetup, trainStep, trainStepSetup } from "./train-step.js";
import type { FitOptions, TrainerEvents } from "./trainer-events.js";
import { Validation } from "./validation.js";

export class Trainer {
  readonly strategy: Strategy;
  readonly model: TrainModel;
  readonly optimizer: TrainOptimizer;
  /** precision 16: NeMo's dynamic loss scaler (its state is checkpointed with the optimizer's). */
  readonly lossScaler: LossScaler | null;
  step = 0;
  epoch = 0;
  private trainLoader: DataLoader | null = null;
  private valLoader: DataLoader | null = null;
  /** This run's folder, chosen when fit() starts (a new version folder, or the one resumed from). */
  private run: RunDir | null = null;
  /** Rank 0's metrics files (opened with the run folder). */
  private metrics: MetricsLogger | null = null;
  /** Best score, newest file and keep_last pruning of this run's checkpoints. */
  private readonly checkpoints: RunCheckpoints;
  private readonly validation: Validation;
  private readonly setup: TrainStepSetup;
  /** Resumed from a checkpoint written at an epoch's last step: that epoch's evaluation is still to run. */
  private epochEvalPending = false;

  constructor(
    readonly device: Device,
    readonly cfg: TrainConfig,
    readonly events: TrainerEvents = {},
    model?: VisionTransformer,
  ) {
    device.rng.seed = cfg.trainer.seed >>> 0;
    device.rng.offset = 0;
    this.strategy = events.strategy ?? createStrategy(cfg, events.group);
    this.model = model ?? this.strategy.buildModel(device, cfg);
    this.model.train();
    this.lossScaler = buildLossScaler(device, cfg);
    this.optimizer = this.strategy.buildOptimizer(this.model, cfg, this.lossScaler);
    const state = () => ({ ...this.optimizer.stateTensors(), ...this.lossScaler?.stateTensors() });
    this.checkpoints = new RunCheckpoints(cfg, this.strategy, this.model, state, (m) => this.log(m));
    const parts = {
      model: this.model,
      optimizer: this.optimizer,
      scaler: this.lossScaler,
      strategy: this.strategy,
    };
    this.setup = trainStepSetup(device, cfg, parts);
    this.validation = new Validation(this.model, cfg, this.strategy, events.onEvalBatch);
  }

  get rank(): number {
    return this.strategy.rank;
  }
  get worldSize(): number {
    return this.strategy.worldSize;
  }
  /** Tensor-parallel size (model.tensor_model_parallel_size). */
  get tp(): number {
    return this.strategy.tensorParallelSize;
  }
  /** Data-parallel ranks: all ranks, divided by the tensor-parallel size. */
  get dataParallelSize(): number {
    return this.strategy.dataParallelSize;
  }
  /** Micro-steps per optimizer step: global_batch / (micro_batch × data-parallel size). */
  get accumulation(): number {
    return plan.accumulation(this.cfg);
  }
  get runDir(): string {
    if (!this.run)
      throw new ConfigError("the run folder is chosen when fit() starts", { hint: "call fit() first" });
    return this.run.runDir;
  }
  get ckptDir(): string {
    return join(this.runDir, "checkpoints");
  }

  private log(msg: string): void {
    this.events.log?.(msg);
  }

  async loaders(): Promise<{ train: DataLoader; val: DataLoader }> {
    // A tensor-parallel group's ranks all see the same batches: the split is of the model, not the data.
    const s = this.strategy;
    this.trainLoader ??= await buildLoader(this.cfg, "train", s.dataParallelRank, s.dataParallelSize);
    this.valLoader ??= await buildLoader(this.cfg, "test");
    return { train: this.trainLoader, val: this.valLoader };
  }

  /** Optimizer steps in one epoch (0 when the data set's length is unknown). */
  stepsPerEpoch(train: DataLoader): number {
    return plan.stepsPerEpoch(this.cfg, train);
  }

  /** The run's length in optimizer steps (max_steps, max_epochs); Infinity when only the time limit bounds it. */
  maxSteps(train: DataLoader): number {
    return plan.maxSteps(this.cfg, train);
  }

  /**
   * Runs until max_steps / max_epochs / max_time_seconds; evaluates and checkpoints as configured.
   * `dryRun`: everything is built and loaded as for the real run, then one optimizer step and one test
   * batch run; no checkpoint, plot or result.json is written (`vit train --dry-run`).
   */
  async fit(opts: FitOptions = {}): Promise<FitResult> {
    const t0 = performance.now();
    const { train, val } = await this.setUp(opts.resumeFrom);
    const maxSteps = this.maxSteps(train);
    const evalEvery = plan.validationInterval(this.cfg, train);
    const budget = runBudget(this.cfg, {
      adapter: adapterKey(this.device.adapter),
      firstStep: this.step,
      evalEvery,
      epochValidationSteps: plan.stepsPerEpoch(this.cfg, train) * this.cfg.trainer.check_val_every_n_epoch,
      valImages: (val.length ?? 0) * val.batchSize,
      imagesPerStep: this.cfg.model.micro_batch_size * this.accumulation,
      ...(this.events.group ? { group: this.events.group } : {}),
      rank: this.rank,
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
    const p = loopPlan(this.cfg, {
      train,
      val,
      maxSteps,
      step: this.step,
      ...opts,
      budget,
      log: new TrainLog(this.device, this.strategy, t0),
      note: (m) => this.rank === 0 && this.log(m),
    });
    plan.validationBatches(this.cfg, val); // a bad limit_val_batches fails now, not after training
    // NeMo's create_checkpoint_callback: false writes no checkpoint at all.
    const saving = this.cfg.exp_manager.create_checkpoint_callback;
    const saveEvery = this.cfg.exp_manager.checkpoint.every_n_steps;
    const accum = this.accumulation;
    let done = this.step >= p.stopAt;
    if (this.epochEvalPending && !done && this.cfg.trainer.val_check_interval === 0) {
      await this.validate(val, t0);
      p.log.restart();
    }
    this.epochEvalPending = false;
    // A global batch is `accum` micro-batches (it may span an epoch boundary).
    let pending: Batch[] = [];
    while (!done) {
      this.epoch = train.epoch;
      let batches = 0;
      for await (const batch of train) {
        batches++;
        pending.push(batch);
        p.log.addImages(batch.labels.length);
        if (pending.length < accum) continue;
        const atEnd = await this.optimizerStep(pending, p);
        pending = [];
        if (!atEnd && evalEvery > 0 && this.step % evalEvery === 0) {
          await this.validate(val, t0);
          p.log.restart();
        }
        if (!atEnd && saving && saveEvery > 0 && this.step % saveEvery === 0) {
          await this.save(train.state());
          p.log.restart();
        }
        done = atEnd;
        if (done) break;
      }
      // An epoch without a single batch would loop forever (validating each time): refuse instead.
      if (!batches) throw this.tooFewSamples(train);
      if (!done && evalEvery === 0 && (this.epoch + 1) % this.cfg.trainer.check_val_every_n_epoch === 0) {
        await this.validate(val, t0);
        p.log.restart();
      }
    }
    p.log.dispose();
    if (opts.dryRun)
      return this.result(p, this.strategy.evaluates ? await this.validation.score(val, 1) : null, true);
    const final = await this.validate(val, t0);
    if (saving) await this.save(train.state(), final);
    this.metrics?.writePlot();
    return this.result(p, final, false);
  }

  /** fit()'s set-up: loaders, the run folder, the starting weights (fresh or resumed), the metrics files. */
  private async setUp(
    resumeFrom: string | null | undefined,
  ): Promise<{ train: DataLoader; val: DataLoader }> {
    if (this.rank === 0) for (const note of configNotes(this.cfg)) this.log(note);
    const { train, val } = await this.loaders();
    if (train.length === 0) throw this.tooFewSamples(train);
    if (evalSplitOf(this.cfg.model.data) === "train" && this.rank === 0) {
      this.log(
        "warning: model.data.val_path is not set, so validation and the final test metrics are measured on the " +
          "TRAINING data (optimistic: they do not show overfitting). Set model.data.val_path to a held-out folder.",
      );
    }
    this.run = await openRunDir(
      this.cfg,
      resumeFrom ?? this.cfg.model.resume_from_checkpoint ?? null,
      this.events.group,
    );
    this.checkpoints.open(this.run.ckptDir, this.run.ownCheckpoints);
    if (this.rank === 0) {
      this.log(`run folder ${this.run.runDir}`);
      // The config this run uses, beside its metrics (NeMo's hparams.yaml): `vit train -c hparams.yaml` repeats it.
      writeFileSync(join(this.run.runDir, "hparams.yaml"), configYaml(this.cfg));
    }
    if (this.run.resumeFrom) await this.resume(this.run.resumeFrom);
    else await this.strategy.initWeights(this.model, this.cfg, (m) => this.log(m));
    if (this.rank === 0) this.metrics = new MetricsLogger(this.run.runDir, this.run.history);
    await this.strategy.syncWeights(this.model);
    return { train, val };
  }

  /** One optimizer step on the global batch `pending`, and its log line when due; true at the run's end. */
  private async optimizerStep(pending: Batch[], p: LoopPlan): Promise<boolean> {
    const every = this.cfg.trainer.log_every_n_steps;
    const lr = lrAt(this.step, this.cfg.model.optim.lr, p.sched);
    // The norm is only needed when clipping, or for the log line this step will write.
    const logging = (this.step + 1) % every === 0 || this.step + 1 >= p.stopAt;
    const { losses } = await trainStep(this.setup, pending, { lr, computeNorm: logging });
    p.log.addLosses(losses);
    this.step++;
    // Bound the work queued ahead of the GPU (the loop itself never reads back between logs).
    await this.device.throttle();
    const planned = await p.budget.afterStep(this.step);
    if (planned && this.rank === 0) {
      this.log(
        p.budget.describe(planned.steps, p.maxSteps, `measured ${planned.secondsPerStep.toFixed(3)} s/step`),
      );
    }
    if (planned) replan(this.cfg, p, planned.steps);
    this.events.onStep?.(this.step, p.maxSteps);
    const cut = p.budget.cutShort(this.step, p.stopAt);
    if (cut && this.rank === 0) this.log(cut);
    const atEnd = this.step >= p.stopAt || p.budget.spent();
    if (this.step % every !== 0 && !atEnd) return atEnd;
    const at = { step: this.step, epoch: this.epoch, lr };
    this.emit(await p.log.write(at, this.optimizer, this.lossScaler, this.checkpoints.last));
    p.log.restart();
    return atEnd;
  }

  /** The end of fit(): loaders closed, the result (written to result.json unless a dry run). */
  private async result(p: LoopPlan, final: EvalResult | null, dryRun: boolean): Promise<FitResult> {
    await p.train.close();
    await p.val.close();
    const { best, last } = this.checkpoints;
    const evalOn = evalSplitOf(this.cfg.model.data);
    const run = {
      steps: this.step,
      epochs: this.epoch,
      final,
      best,
      checkpoint: last,
      runDir: this.runDir,
      evalOn,
    };
    return fitResult(run, p.log, dryRun);
  }

  async validate(val: DataLoader, t0 = performance.now()): Promise<EvalResult> {
    const at = { step: this.step, epoch: this.epoch, t0, lastCheckpoint: this.checkpoints.last };
    const { result, record } = await this.validation.run(val, at);
    if (record) {
      this.emit(record);
      this.checkpoints.validated(result, this.step);
    }
    return result;
  }

  /** A log line: to rank 0's metrics files, and to onLog. */
  private emit(rec: Record<string, number | string>): void {
    this.metrics?.log(rec);
    this.events.onLog?.(rec);
  }

  /** Writes step-N.safetensors atomically (and each rank's own optimizer shard); keeps the last K and the best. */
  save(loader: LoaderState, evalResult?: EvalResult): Promise<string> {
    const { step, epoch, optimizer, device, trainLoader } = this;
    const classes = trainLoader ? [...trainLoader.dataset.classes] : undefined;
    const at = { step, epoch, optimizerSteps: optimizer.stepCount, rng: device.rng, loader, classes };
    return this.checkpoints.save(at, evalResult);
  }

  /** Restores model, optimizer, step, RNG and data position from a checkpoint. */
  async resume(path: string): Promise<void> {
    const meta = await this.checkpoints.resume(path);
    this.optimizer.stepCount = meta.optimizerSteps;
    this.step = meta.step;
    this.epoch = meta.epoch;
    this.device.rng.seed = meta.rng.seed;
    this.device.rng.offset = meta.rng.offset;
    const { train } = await this.loaders();
    const loaderState = meta.loader as LoaderState;
    train.loadState(loaderState);
    this.epochEvalPending = train.length !== undefined && loaderState.position >= train.length;
    this.log(`resumed from ${path} at step ${this.step}`);
  }

  private tooFewSamples(train: DataLoader) {
    return tooFewSamplesError(train, this.cfg.model.micro_batch_size, this.dataParallelSize);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.lossScaler?.dispose();
    this.model.dispose();
    this.strategy.dispose();
  }
}
