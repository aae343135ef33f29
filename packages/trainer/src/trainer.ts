/**
 * The training loop: micro-batches with gradient accumulation, the scheduled optimizer step with global
 * norm clipping (all on the GPU: the loop reads back only at log intervals), periodic evaluation,
 * atomic checkpoints with exact resume, NaN/inf detection, metrics to JSONL/CSV/SVG.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { DataLoader, LoaderState } from "@vit/data";
import { VisionTransformer } from "@vit/model";
import type { HostTensor } from "@vit/nn";
import {
  type Device,
  type Tensor,
  add,
  autocast,
  cast,
  crossEntropy,
  keep,
  mulScalar,
  noGrad,
  scope,
  tensor,
  zeros,
} from "@vit/tensor";
import {
  DataParallel,
  type ProcessGroup,
  TensorParallelViT,
  backwardAsync,
  tensorAndDataParallelGroups,
  clipGradNormTensorParallel,
  mergeTensorParallelStateDicts,
  splitTensorParallelStateDict,
  tensorParallelSplitOf,
} from "@vit/parallel";
import {
  type TrainModel,
  type TrainOptimizer,
  buildLoader,
  buildModel,
  buildOptimizer,
  isBf16,
  vitConfigOf,
} from "./build.js";
import {
  checkpointPath,
  latestCheckpoint,
  loadCheckpoint,
  markBest,
  pruneCheckpoints,
  saveCheckpoint,
  type CheckpointMeta,
  CHECKPOINT_FORMAT,
} from "./checkpoint/checkpoint.js";
import { configYaml } from "./config/resolve.js";
import type { TrainConfig } from "./config/schema.js";
import { type EvalResult, evaluate } from "./evaluate.js";
import { MetricsLogger } from "./metrics.js";
import { lrAt, type ScheduleConfig } from "@vit/optim";
import { loadPretrained } from "./pretrained.js";

/** `step-N.safetensors` → `step-N.rank-R.safetensors` (a data-parallel rank's optimizer shard). */
export function rankShardPath(path: string, rank: number): string {
  return path.replace(/\.safetensors$/, `.rank-${rank}.safetensors`);
}

export class NonFiniteLossError extends Error {
  override name = "NonFiniteLossError";
}

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
}

export class Trainer {
  readonly model: TrainModel;
  readonly optimizer: TrainOptimizer;
  /** Data parallelism: null on one device, or when the distributed optimizer reduces gradients itself. */
  readonly dp: DataParallel | null;
  readonly rank: number;
  readonly worldSize: number;
  /** Tensor-parallel size (model.tensor_model_parallel_size); the data-parallel size is worldSize / tp. */
  readonly tp: number;
  readonly runDir: string;
  readonly ckptDir: string;
  step = 0;
  epoch = 0;
  private trainLoader: DataLoader | null = null;
  private valLoader: DataLoader | null = null;
  private best: { metric: string; value: number; step: number } | null = null;
  private metrics: MetricsLogger;
  private lastCheckpoint: string | null = null;
  /**
   * Tensor parallel: the single-device model initialised exactly as a tp = 1 run would be, split into the
   * shards when training starts (Megatron's use_cpu_initialization), so a run's weights, and with dropout 0
   * its losses, do not depend on the parallel layout. Null once used, or when resuming.
   */
  private fullInit: VisionTransformer | null = null;
  /** Global gradient norm of the last tensor-parallel step that measured one. */
  private tpGradNorm = Number.NaN;
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
      throw new Error(
        `trainer.devices × trainer.num_nodes = ${expected}, but ${this.worldSize} rank(s) are running. ` +
          `Launch ${expected} ranks (\`vit launch --nproc ${expected} -- train ...\`) or set trainer.devices=${this.worldSize}.`,
      );
    }
    let dpGroup: ProcessGroup | undefined = group;
    if (this.tp > 1) {
      if (!group || this.worldSize % this.tp) {
        throw new Error(
          `model.tensor_model_parallel_size=${this.tp} needs a multiple of ${this.tp} ranks (trainer.devices × num_nodes = ${expected}): ` +
            `consecutive groups of ${this.tp} ranks split the model, and those groups train as data-parallel replicas. ` +
            `Launch e.g. \`vit launch --nproc ${this.tp} -- train ... trainer.devices=${this.tp}\`.`,
        );
      }
      if (this.worldSize > this.tp && cfg.model.optim.name === "distributed_fused_adam") {
        throw new Error(
          "model.optim.name=distributed_fused_adam with tensor and data parallelism together is not supported yet; use adamw " +
            "(or tensor parallelism alone, where there is nothing to shard it over).",
        );
      }
      if (group.backend === "in-process") {
        throw new Error(
          "tensor parallelism in the trainer needs one process per rank (`vit launch --nproc N -- train ...`): " +
            "ranks sharing a process would interleave their tensor scopes across the collectives' awaits.",
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
    this.optimizer = buildOptimizer(this.model, cfg, this.tp > 1 ? undefined : group);
    this.dp =
      dpGroup && dpGroup.worldSize > 1 && cfg.model.optim.name !== "distributed_fused_adam"
        ? new DataParallel(dpGroup)
        : null;
    this.runDir = resolve(cfg.exp_manager.exp_dir, cfg.exp_manager.name);
    this.ckptDir = join(this.runDir, "checkpoints");
    mkdirSync(this.ckptDir, { recursive: true });
    this.metrics = new MetricsLogger(this.runDir);
    // The config this run uses, beside its metrics (NeMo's hparams.yaml): `vit train -c hparams.yaml` repeats it.
    if (this.rank === 0) writeFileSync(join(this.runDir, "hparams.yaml"), configYaml(cfg));
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
      throw new Error(
        `global_batch_size ${global} is not a multiple of micro_batch_size ${m.micro_batch_size} × ${dp} data-parallel ranks.`,
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

  maxSteps(train: DataLoader): number {
    const t = this.cfg.trainer;
    if (t.max_steps) return t.max_steps;
    const perEpoch = Math.floor((train.length ?? 0) / this.accumulation);
    if (!t.max_epochs || !perEpoch)
      throw new Error(
        "trainer.max_steps or trainer.max_epochs must be set (and the data set must have a length).",
      );
    return t.max_epochs * perEpoch;
  }

  private schedule(maxSteps: number): ScheduleConfig {
    const s = this.cfg.model.optim.sched;
    if (s.name === "CosineAnnealing") {
      return {
        name: "CosineAnnealing",
        max_steps: s.max_steps ?? maxSteps,
        min_lr: s.min_lr,
        ...(s.warmup_steps !== undefined ? { warmup_steps: s.warmup_steps } : {}),
        ...(s.warmup_ratio !== undefined ? { warmup_ratio: s.warmup_ratio } : {}),
      };
    }
    return s as ScheduleConfig;
  }

  /**
   * Runs until max_steps / max_epochs / max_time_seconds; evaluates and checkpoints as configured.
   * `dryRun`: everything is built and loaded as for the real run, then one optimizer step and one test
   * batch run; no checkpoint, plot or result.json is written (`vit train --dry-run`).
   */
  async fit(
    opts: { resumeFrom?: string | null; stopAtStep?: number; dryRun?: boolean } = {},
  ): Promise<FitResult> {
    const t0 = performance.now();
    const { train, val } = await this.loaders();
    const resume =
      opts.resumeFrom ?? (this.cfg.exp_manager.resume_if_exists ? latestCheckpoint(this.ckptDir) : null);
    if (resume) await this.resume(resume);
    else if (this.model instanceof TensorParallelViT) await this.initTensorParallel();
    else if (this.cfg.model.restore_from_path) {
      for (const note of await loadPretrained(this.model, this.cfg.model.restore_from_path)) this.log(note);
    }
    this.fullInit?.dispose();
    this.fullInit = null;
    // Every replica starts from rank 0's weights (initialisation draws differ per process otherwise).
    if (this.events.group && this.worldSize > 1 && this.tp === 1) {
      await new DataParallel(this.events.group).broadcastParameters(this.model as VisionTransformer, 0);
    }
    const maxSteps = this.maxSteps(train);
    const sched = this.schedule(maxSteps);
    const tc = this.cfg.trainer;
    const accum = this.accumulation;
    const baseLr = this.cfg.model.optim.lr;
    const smoothing = this.cfg.model.label_smoothing;
    const bf16 = isBf16(this.cfg);
    const stopAt = opts.dryRun ? this.step + 1 : Math.min(maxSteps, opts.stopAtStep ?? maxSteps);
    const device = this.device;
    let running: Tensor = keep(zeros(device, [1]));
    let runningCount = 0;
    let intervalStart = performance.now();
    let intervalImages = 0;
    let trainImages = 0;
    let trainTime = 0;
    let micro = 0;
    let done = this.step >= stopAt;
    const timeLimit = tc.max_time_seconds > 0 ? tc.max_time_seconds * 1000 : Infinity;
    while (!done) {
      this.epoch = train.epoch;
      for await (const batch of train) {
        const images = batch.images instanceof Float32Array ? batch.images : Float32Array.from(batch.images);
        const B = batch.labels.length;
        const target = () =>
          batch.targets
            ? tensor(device, batch.targets, [B, batch.targets.length / B])
            : tensor(device, batch.labels, [B]);
        const ceOpts = batch.targets ? {} : { labelSmoothing: smoothing };
        const scaled = (loss: Tensor) => (accum > 1 ? mulScalar(loss, 1 / accum) : loss);
        const addToRunning = (loss: Tensor) => {
          const next = noGrad(() => add(running, loss));
          running.dispose();
          running = keep(next);
        };
        const model = this.model;
        if (model instanceof TensorParallelViT) {
          await scope(async () => {
            const x = tensor(device, images, batch.shape);
            const y = target();
            const forward = async () => crossEntropy(await model.forward(x), y, ceOpts);
            const loss = bf16 ? await autocast("bf16", forward) : await forward();
            // Collectives inside the graph: the asynchronous backward awaits them.
            await backwardAsync(scaled(loss));
            addToRunning(loss);
          });
        } else {
          // One device: the synchronous forward and backward, all recorded into one command encoder.
          scope(() => {
            const x = tensor(device, images, batch.shape);
            const y = target();
            const forward = () => crossEntropy(model.forward(x), y, ceOpts);
            const loss = bf16 ? autocast("bf16", forward) : forward();
            scaled(loss).backward();
            addToRunning(loss);
          });
        }
        runningCount++;
        intervalImages += B;
        if (++micro % accum !== 0) continue;
        const lr = lrAt(this.step, baseLr, sched);
        if (this.dp) await this.dp.allReduceGradients(this.model);
        // The norm is only needed when clipping, or for the log line this step will write.
        const logging = (this.step + 1) % tc.log_every_n_steps === 0 || this.step + 1 >= stopAt;
        if (this.tp > 1) {
          // The optimizer sees only this rank's shards: the global norm sums them over the group.
          if (tc.gradient_clip_val > 0 || logging) {
            this.tpGradNorm = await clipGradNormTensorParallel(
              this.tpGroup!,
              this.model,
              tc.gradient_clip_val,
            );
          }
          await this.optimizer.step({ lr, maxGradNorm: 0, computeNorm: false });
        } else await this.optimizer.step({ lr, maxGradNorm: tc.gradient_clip_val, computeNorm: logging });
        this.optimizer.zeroGrad();
        this.step++;
        // Bound the work queued ahead of the GPU (the loop itself never reads back between logs).
        await device.throttle();
        this.events.onStep?.(this.step, maxSteps);
        const atEnd = this.step >= stopAt || performance.now() - t0 > timeLimit;
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
            throw new NonFiniteLossError(
              `training loss became ${lossMean} at step ${this.step} (lr ${lr.toExponential(3)}). The run stopped; the last good ` +
                `checkpoint is ${this.lastCheckpoint ?? "(none saved yet)"}. Lower model.optim.lr, set trainer.gradient_clip_val, or check the data.`,
            );
          }
          const rec = {
            kind: "train",
            step: this.step,
            epoch: this.epoch,
            loss: lossMean,
            lr,
            grad_norm: this.tp > 1 ? this.tpGradNorm : await this.optimizer.lastGradNorm(),
            images_per_second: intervalImages / dt,
            elapsed_s: (now - t0) / 1000,
          };
          if (this.rank === 0) this.metrics.log(rec);
          this.events.onLog?.(rec);
          running.dispose();
          running = keep(zeros(device, [1]));
          runningCount = 0;
          intervalImages = 0;
          intervalStart = performance.now();
        }
        const evalNow = tc.val_check_interval > 0 && this.step % tc.val_check_interval === 0;
        if (evalNow && !atEnd) {
          await this.validate(val, t0);
          intervalStart = performance.now();
        }
        const every = this.cfg.exp_manager.checkpoint.every_n_steps;
        if (every > 0 && this.step % every === 0 && !atEnd) {
          await this.save(train.state());
          intervalStart = performance.now();
        }
        if (atEnd) {
          done = true;
          break;
        }
      }
      if (!done && tc.val_check_interval === 0) {
        await this.validate(val, t0);
        intervalStart = performance.now();
      }
    }
    running.dispose();
    if (opts.dryRun) return this.dryRunEnd(train, val, t0, trainTime, trainImages);
    const final = await this.validate(val, t0);
    await this.save(train.state(), final);
    if (this.rank === 0) this.metrics.writePlot();
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
    };
    writeFileSync(join(this.runDir, "result.json"), JSON.stringify(result, null, 2));
    return result;
  }

  /** Top-1/top-5/loss of the model on `val` (in the run's precision), reporting progress per batch. */
  private score(val: DataLoader, maxBatches = Infinity): Promise<EvalResult> {
    const run = () => evaluate(this.model, val, maxBatches, this.events.onEvalBatch);
    return isBf16(this.cfg) ? autocast("bf16", run) : run();
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
    };
  }

  async validate(val: DataLoader, t0 = performance.now()): Promise<EvalResult> {
    // Rank 0 evaluates the whole test split; the others go on and meet it at the next collective. With
    // tensor parallelism every rank takes part in each forward, and only rank 0 records the result.
    if (this.rank !== 0 && this.tp === 1)
      return { top1: Number.NaN, top5: Number.NaN, loss: Number.NaN, images: 0 };
    const r = await this.score(val);
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
    this.metrics.log(rec);
    this.events.onLog?.(rec);
    const monitor = this.cfg.exp_manager.checkpoint.monitor;
    const value = monitor === "val_top1" ? r.top1 : r.loss;
    const better = !this.best || (monitor === "val_top1" ? value > this.best.value : value < this.best.value);
    if (better) this.best = { metric: monitor, value, step: this.step };
    return r;
  }

  /** Writes step-N.safetensors atomically; keeps the last K and a copy of the best. */
  async save(loaderState: LoaderState, evalResult?: EvalResult): Promise<string> {
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
        await saveCheckpoint(rankShardPath(path, this.rank), {}, this.optimizer.stateTensors(), meta);
      }
      this.lastCheckpoint = path;
      return path;
    }
    await saveCheckpoint(path, weights ?? this.model.stateDict(), this.optimizer.stateTensors(), meta);
    this.lastCheckpoint = path;
    pruneCheckpoints(this.ckptDir, this.cfg.exp_manager.checkpoint.keep_last);
    if (this.cfg.exp_manager.checkpoint.save_best && this.best && this.best.step === this.step)
      markBest(path, this.ckptDir);
    this.log(`checkpoint ${path}`);
    return path;
  }

  /** Restores model, optimizer, step, RNG and data position from a checkpoint. */
  async resume(path: string): Promise<void> {
    const ck = await loadCheckpoint(path);
    if (this.tp > 1) {
      const savedTp = (ck.meta.config as TrainConfig).model.tensor_model_parallel_size ?? 1;
      if (savedTp !== this.tp) {
        throw new Error(
          `resume: ${path} was written with tensor_model_parallel_size=${savedTp}, this run uses ${this.tp}; its optimizer state ` +
            "is per rank. Resume with the same size, or start a new run from its weights with model.restore_from_path.",
        );
      }
      this.model.loadStateDict(
        splitTensorParallelStateDict(ck.model, this.model.config, this.tp)[this.tpGroup!.rank]!,
      );
    } else this.model.loadStateDict(ck.model);
    if (this.rank !== 0 && (this.cfg.model.optim.name === "distributed_fused_adam" || this.tp > 1)) {
      ck.optim = (await loadCheckpoint(rankShardPath(path, this.rank))).optim;
    }
    const own = this.optimizer.stateTensors();
    for (const [k, t] of Object.entries(own)) {
      const h = ck.optim[k];
      if (!h)
        throw new Error(`resume: ${path} lacks optimizer state ${k}; was it saved with another optimizer?`);
      if (h.data.length !== t.numel) {
        throw new Error(
          `resume: optimizer state ${k} in ${path} has ${h.data.length} values, this model's has ${t.numel}.`,
        );
      }
      t.device.upload(t.buffer, h.data as Float32Array);
    }
    this.optimizer.stepCount = ck.meta.optimizerSteps;
    this.step = ck.meta.step;
    this.epoch = ck.meta.epoch;
    this.device.rng.seed = ck.meta.rng.seed;
    this.device.rng.offset = ck.meta.rng.offset;
    if (ck.meta.best) this.best = ck.meta.best;
    const { train } = await this.loaders();
    train.loadState(ck.meta.loader as LoaderState);
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
    const shards = splitTensorParallelStateDict(await full.stateDictHost(), full.config, this.tp);
    this.model.loadStateDict(shards[this.tpGroup!.rank]!);
  }

  /** The tensor-parallel shards gathered and merged into single-device weights on rank 0 (null elsewhere). */
  private async gatherTensorParallelWeights(): Promise<Record<string, HostTensor> | null> {
    const group = this.tpGroup!;
    const shards: Array<Record<string, HostTensor>> = Array.from({ length: this.tp }, () => ({}));
    for (const [name, t] of Object.entries(this.model.stateDict())) {
      if (tensorParallelSplitOf(name) === "replicated") {
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
    return this.rank === 0 ? mergeTensorParallelStateDicts(shards, this.model.config) : null;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
    this.fullInit?.dispose();
  }
}
