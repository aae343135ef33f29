/**
 * How a run is spread over devices, after PyTorch Lightning's strategies (SingleDeviceStrategy,
 * DDPStrategy) and NeMo's Megatron strategy. A strategy owns everything that depends on the parallel
 * layout: building this rank's model and optimizer, its starting weights, the backward (with collectives
 * in the graph or not), the gradient reduction, clipping by the global norm and the update, the metrics
 * averaged over replicas, and the checkpoint's sharded state. The Trainer's loop, and `trainStep`, are
 * the same for every layout.
 *
 * The implementations: single-device.ts (one device), data-parallel.ts (DDP, or ZeRO-1 with
 * model.optim.name=distributed_fused_adam), tensor-parallel.ts (Megatron's split, optionally data-parallel
 * over the tensor-parallel groups); create.ts picks one from the config and the process group.
 */
import type { LossScaler } from "@vit/optim";
import type { Device, Tensor } from "@vit/tensor";
import type { TrainModel, TrainOptimizer } from "../build.js";
import type { CheckpointMeta } from "../checkpoint/checkpoint.js";
import type { TrainConfig } from "../config/schema.js";

/** Lightning's names where they exist; "megatron" is NeMo's tensor-parallel strategy (± data parallel). */
export type StrategyName = "single_device" | "ddp" | "ddp_distributed_optimizer" | "megatron";

export interface Strategy {
  readonly name: StrategyName;
  /** This process's rank among all ranks, and their number. */
  readonly rank: number;
  readonly worldSize: number;
  /** model.tensor_model_parallel_size: ranks that split one model (consecutive, as Megatron's). */
  readonly tensorParallelSize: number;
  /** Replicas that each see their own share of the data: worldSize / tensorParallelSize. */
  readonly dataParallelSize: number;
  /** This rank's replica (its data shard): ranks k·tp ... k·tp + tp - 1 are replica k. */
  readonly dataParallelRank: number;
  /** Whether this rank takes part in validation (rank 0; with tensor parallelism every rank runs the forward). */
  readonly evaluates: boolean;

  // Model setup.
  /** This rank's model (Lightning's model_to_device / Megatron's model build). */
  buildModel(device: Device, cfg: TrainConfig): TrainModel;
  buildOptimizer(model: TrainModel, cfg: TrainConfig, scaler: LossScaler | null): TrainOptimizer;
  /** A fresh run's starting weights: model.restore_from_path, or this rank's shard of the full init. */
  initWeights(model: TrainModel, cfg: TrainConfig, log: (msg: string) => void): Promise<void>;
  /** Once the weights are set (fresh or resumed): make the replicas equal; free what set-up kept. */
  syncWeights(model: TrainModel): Promise<void>;

  // The step.
  /**
   * Forward, loss and backward of one micro-batch inside one tensor scope: `lossOf` builds the inputs and
   * returns the loss, `root` the tensor the backward starts from. Returns the loss, kept.
   */
  forwardBackward(lossOf: () => Tensor | Promise<Tensor>, root: (loss: Tensor) => Tensor): Promise<Tensor>;
  /** Gradient reduction over replicas, clipping by the global norm (0: none), the update. */
  optimizerStep(
    model: TrainModel,
    optimizer: TrainOptimizer,
    opts: { lr: number; gradientClipVal: number; computeNorm: boolean },
  ): Promise<void>;
  /** The global gradient norm of the last step that measured one (clipping, or computeNorm). */
  lastGradNorm(optimizer: TrainOptimizer): Promise<number>;

  // Metrics.
  /** The mean of a host value over the data-parallel replicas (the logged loss); the value itself on one. */
  reduceMean(value: number): Promise<number>;
  /** NaN/±Inf values among the weights of the whole model (summed over its shards). */
  nonFiniteWeights(model: TrainModel): Promise<number>;

  // Checkpoints: the weights file always holds the single-device layout, whatever the strategy.
  /**
   * Writes a checkpoint at `path`: rank 0 the weights (merged from the shards where the model is split)
   * and its optimizer state, a rank whose optimizer state is its own a `.rank-R` file beside it. Every rank
   * calls it (the merge is a collective).
   */
  saveCheckpoint(
    path: string,
    model: TrainModel,
    state: Record<string, Tensor>,
    meta: CheckpointMeta,
  ): Promise<void>;
  /**
   * Loads a checkpoint written by saveCheckpoint into `model` (this rank's shard of the weights) and the
   * optimizer state tensors `state`; refuses converted weights, another layout's file and non-finite
   * weights. Returns the checkpoint's meta (step, RNG, data position).
   */
  loadCheckpoint(
    path: string,
    model: TrainModel,
    state: Record<string, Tensor>,
    log: (msg: string) => void,
  ): Promise<CheckpointMeta>;

  /** Frees what the strategy holds (not the model or optimizer: the Trainer disposes those). */
  dispose(): void;
}
