/**
 * A run's checkpoints (Lightning's ModelCheckpoint callback and checkpoint connector, with NeMo's
 * exp_manager keys): writing step-N.safetensors through the strategy (which shards or merges the state),
 * reading one back on resume, the best validation score so far by exp_manager.checkpoint.monitor with a copy
 * of its file as best.safetensors (save_best), the newest file written or resumed from, and pruning to the
 * last keep_last step files of this run's history.
 */
import type { LoaderState } from "@vit/data";
import type { Tensor } from "@vit/tensor";
import type { TrainModel } from "../build.js";
import type { TrainConfig } from "../config/schema.js";
import type { EvalResult } from "../evaluate.js";
import { divergedError } from "../run-errors.js";
import type { Strategy } from "../strategies/strategy.js";
import {
  CHECKPOINT_FORMAT,
  type CheckpointMeta,
  checkpointPath,
  markBest,
  pruneCheckpoints,
  stepOfCheckpoint,
} from "./checkpoint.js";

export interface BestScore {
  metric: string;
  value: number;
  step: number;
}

/** Where the run is: what a checkpoint stores besides the weights and optimizer state. */
export interface TrainPosition {
  step: number;
  epoch: number;
  optimizerSteps: number;
  rng: { seed: number; offset: number };
  loader: LoaderState;
  /** The training set's class names (predict labels its outputs with them). */
  classes?: string[];
}

export class RunCheckpoints {
  best: BestScore | null = null;
  /** The newest checkpoint written or resumed from; its weights passed the finiteness check. */
  last: string | null = null;
  /** The step checkpoints of this run's history, oldest first: the only ones keep_last may delete. */
  private own: string[] = [];
  private dir = "";

  constructor(
    private readonly cfg: TrainConfig,
    private readonly strategy: Strategy,
    private readonly model: TrainModel,
    /** The optimizer's (and loss scaler's) state tensors. */
    private readonly state: () => Record<string, Tensor>,
    private readonly log: (msg: string) => void,
  ) {}

  /** The run's checkpoint folder and the step files of its history already there. */
  open(dir: string, own: string[]): void {
    this.dir = dir;
    this.own = own;
  }

  /** Writes step-N.safetensors atomically (every rank calls it); keeps the last K and the best. */
  async save(at: TrainPosition, evalResult?: EvalResult): Promise<string> {
    // A diverged model is never written (nor marked best): resume_if_exists would pick it up.
    const bad = await this.strategy.nonFiniteWeights(this.model);
    if (bad) {
      const what = `${bad} weights became NaN or infinite by step ${at.step}; they were not saved`;
      throw divergedError(what, this.last);
    }
    const path = checkpointPath(this.dir, at.step);
    const meta: CheckpointMeta = {
      format: CHECKPOINT_FORMAT,
      step: at.step,
      epoch: at.epoch,
      optimizerSteps: at.optimizerSteps,
      rng: { ...at.rng },
      loader: at.loader,
      config: this.cfg,
      metrics: evalResult
        ? { val_top1: evalResult.top1, val_top5: evalResult.top5, val_loss: evalResult.loss }
        : {},
      ...(at.classes ? { classes: at.classes } : {}),
      ...(this.best ? { best: this.best } : {}),
    };
    await this.strategy.saveCheckpoint(path, this.model, this.state(), meta);
    this.last = path;
    if (this.strategy.rank !== 0) return path;
    // Best first: pruning must never take the file best is copied from.
    if (this.cfg.exp_manager.checkpoint.save_best && this.best?.step === at.step) markBest(path, this.dir);
    this.own = pruneCheckpoints([...this.own, path], this.cfg.exp_manager.checkpoint.keep_last);
    this.log(`checkpoint ${path}`);
    return path;
  }

  /** Loads weights and optimizer state from `path`; returns the position to continue from. */
  async resume(path: string): Promise<CheckpointMeta> {
    const meta = await this.strategy.loadCheckpoint(path, this.model, this.state(), this.log);
    if (meta.best) this.best = meta.best;
    this.last = path;
    return meta;
  }

  /** A validation result at `step` (rank 0): it becomes the best when it beats it on the monitored metric. */
  validated(r: EvalResult, step: number): void {
    const { monitor, save_best } = this.cfg.exp_manager.checkpoint;
    const value = monitor === "val_top1" ? r.top1 : r.loss;
    const better = !this.best || (monitor === "val_top1" ? value > this.best.value : value < this.best.value);
    if (!better) return;
    this.best = { metric: monitor, value, step };
    // Evaluated after this step's checkpoint was written (end of an epoch): copy it to best now, before
    // keep_last prunes it (save() marks best only when the best is at the step it writes).
    if (save_best && this.last && stepOfCheckpoint(this.last) === step) markBest(this.last, this.dir);
  }
}
