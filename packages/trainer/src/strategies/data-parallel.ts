/**
 * Data parallelism (Lightning's DDPStrategy): every rank holds the whole model and trains on its share of
 * each global batch. The gradients are averaged over the ranks before the update (DataParallel's buckets),
 * or, with model.optim.name=distributed_fused_adam, reduce-scattered by the distributed optimizer (ZeRO-1:
 * each rank keeps and updates only its shard of the optimizer state, checkpointed per rank).
 */
import type { LossScaler } from "@vit/optim";
import { DataParallel, type ProcessGroup } from "@vit/parallel";
import { type TrainModel, type TrainOptimizer, buildOptimizer } from "../build.js";
import type { TrainConfig } from "../config/schema.js";
import { SingleDeviceStrategy } from "./single-device.js";
import type { StrategyName } from "./strategy.js";

export class DataParallelStrategy extends SingleDeviceStrategy {
  override readonly name: StrategyName;
  override readonly rank: number;
  override readonly worldSize: number;
  override readonly dataParallelRank: number;
  protected override readonly ownsOptimizerShard: boolean;
  /** The gradient all-reduce; null when the distributed optimizer reduces the gradients itself. */
  private readonly dp: DataParallel | null;

  constructor(
    readonly group: ProcessGroup,
    cfg: TrainConfig,
  ) {
    super();
    const zero = cfg.model.optim.name === "distributed_fused_adam";
    this.name = zero ? "ddp_distributed_optimizer" : "ddp";
    this.rank = this.dataParallelRank = group.rank;
    this.worldSize = group.worldSize;
    this.ownsOptimizerShard = zero;
    this.dp = zero ? null : new DataParallel(group);
  }

  override buildOptimizer(model: TrainModel, cfg: TrainConfig, scaler: LossScaler | null): TrainOptimizer {
    return buildOptimizer(model, cfg, this.group, scaler);
  }

  /** Every replica starts from rank 0's weights (initialisation draws differ per process otherwise). */
  override async syncWeights(model: TrainModel): Promise<void> {
    await new DataParallel(this.group).broadcastParameters(model, 0);
  }

  override async optimizerStep(
    model: TrainModel,
    optimizer: TrainOptimizer,
    opts: { lr: number; gradientClipVal: number; computeNorm: boolean },
  ): Promise<void> {
    if (this.dp) await this.dp.allReduceGradients(model);
    await super.optimizerStep(model, optimizer, opts);
  }

  /** Each replica summed the loss of its own share of the batches: the mean over replicas, as NeMo logs. */
  override async reduceMean(value: number): Promise<number> {
    return (await this.group.allReduceValues([value], "mean"))[0]!;
  }

  override dispose(): void {
    this.dp?.dispose();
  }
}
