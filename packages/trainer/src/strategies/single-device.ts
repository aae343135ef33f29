/**
 * One device (Lightning's SingleDeviceStrategy), and the base of the others: the synchronous forward and
 * backward recorded into one command encoder, clipping and the update inside the optimizer, weights saved
 * as they are. Its checkpoint I/O is shared by the others, which override the hooks it calls.
 */
import type { HostTensor } from "@vit/nn";
import type { LossScaler } from "@vit/optim";
import { type Device, type Tensor, countNonFinite, keep, scope } from "@vit/tensor";
import { type TrainModel, type TrainOptimizer, buildModel, buildOptimizer } from "../build.js";
import {
  CheckpointError,
  type CheckpointMeta,
  loadCheckpoint,
  saveCheckpoint,
} from "../checkpoint/checkpoint.js";
import { loadStateTensors, rankShardPath } from "../checkpoint/train-state.js";
import type { TrainConfig } from "../config/schema.js";
import { loadPretrained } from "../pretrained.js";
import type { Strategy, StrategyName } from "./strategy.js";
import { TensorParallelViT } from "./tensor-parallel-model.js";

export class SingleDeviceStrategy implements Strategy {
  readonly name: StrategyName = "single_device";
  readonly rank: number = 0;
  readonly worldSize: number = 1;
  readonly tensorParallelSize: number = 1;
  readonly dataParallelRank: number = 0;
  /** Whether this rank's optimizer state is its own, written beside rank 0's checkpoint as `.rank-R`. */
  protected readonly ownsOptimizerShard: boolean = false;

  get dataParallelSize(): number {
    return this.worldSize / this.tensorParallelSize;
  }

  /** Rank 0 evaluates the whole test split; other replicas go on and meet it at the next collective. */
  get evaluates(): boolean {
    return this.rank === 0;
  }

  buildModel(device: Device, cfg: TrainConfig): TrainModel {
    return buildModel(device, cfg);
  }

  buildOptimizer(model: TrainModel, cfg: TrainConfig, scaler: LossScaler | null): TrainOptimizer {
    return buildOptimizer(model, cfg, undefined, scaler);
  }

  async initWeights(model: TrainModel, cfg: TrainConfig, log: (msg: string) => void): Promise<void> {
    const path = cfg.model.restore_from_path;
    // A tensor-parallel model passed to the Trainer keeps its weights.
    if (!path || model instanceof TensorParallelViT) return;
    for (const note of await loadPretrained(model, path)) log(note);
  }

  async syncWeights(_model: TrainModel): Promise<void> {}

  forwardBackward(lossOf: () => Tensor | Promise<Tensor>, root: (loss: Tensor) => Tensor): Promise<Tensor> {
    // Synchronous, in one scope: an await inside would let another in-process rank's tensors into it.
    return Promise.resolve(
      scope(() => {
        const loss = lossOf();
        if (loss instanceof Promise)
          throw new Error("a model with an async forward needs TensorParallelStrategy"); // bug, not user input
        root(loss).backward();
        return keep(loss);
      }),
    );
  }

  async optimizerStep(
    _model: TrainModel,
    optimizer: TrainOptimizer,
    opts: { lr: number; gradientClipVal: number; computeNorm: boolean },
  ): Promise<void> {
    await optimizer.step({ lr: opts.lr, maxGradNorm: opts.gradientClipVal, computeNorm: opts.computeNorm });
  }

  lastGradNorm(optimizer: TrainOptimizer): Promise<number> {
    return optimizer.lastGradNorm();
  }

  async reduceMean(value: number): Promise<number> {
    return value;
  }

  nonFiniteWeights(model: TrainModel): Promise<number> {
    return countNonFinite(Object.values(model.stateDict()));
  }

  async saveCheckpoint(
    path: string,
    model: TrainModel,
    state: Record<string, Tensor>,
    meta: CheckpointMeta,
  ): Promise<void> {
    const weights = await this.checkpointWeights(model);
    if (this.rank === 0) await saveCheckpoint(path, weights!, state, meta);
    else if (this.ownsOptimizerShard) await saveCheckpoint(rankShardPath(path, this.rank), {}, state, meta);
  }

  async loadCheckpoint(
    path: string,
    model: TrainModel,
    state: Record<string, Tensor>,
    log: (msg: string) => void,
  ): Promise<CheckpointMeta> {
    const ck = await loadCheckpoint(path);
    // `vit convert --to vit` writes weights without optimizer state or a training position.
    if ((ck.meta as { format?: string }).format === "vit-weights/1") {
      throw new CheckpointError(
        `resume: ${path} holds converted weights only (no optimizer state, step or data position)`,
        {
          hint: "start a new run from them with model.restore_from_path (or vit finetune --from)",
        },
      );
    }
    this.loadWeights(model, ck.model, path, ck.meta.config as TrainConfig);
    const bad = await this.nonFiniteWeights(model);
    if (bad) {
      throw new CheckpointError(
        `resume: ${path} holds ${bad} NaN or infinite weights (saved by a run that diverged). Resume from an earlier checkpoint.`,
      );
    }
    const own = this.rank !== 0 && this.ownsOptimizerShard;
    loadStateTensors(
      state,
      own ? (await loadCheckpoint(rankShardPath(path, this.rank))).optim : ck.optim,
      path,
      log,
    );
    return ck.meta;
  }

  /** The weights rank 0 writes (single-device layout); null on other ranks. */
  protected async checkpointWeights(model: TrainModel): Promise<Record<string, Tensor | HostTensor> | null> {
    return this.rank === 0 ? model.stateDict() : null;
  }

  /** Loads a checkpoint's single-device weights; `saved` is the config it was written with. */
  protected loadWeights(
    model: TrainModel,
    weights: Record<string, HostTensor>,
    _path: string,
    _saved: TrainConfig,
  ): void {
    model.loadStateDict(weights);
  }

  dispose(): void {}
}
