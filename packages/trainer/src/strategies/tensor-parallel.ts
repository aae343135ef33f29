/**
 * Megatron's tensor parallelism (NeMo's Megatron strategy): consecutive groups of
 * model.tensor_model_parallel_size ranks each hold a split of the model, and those groups train as
 * data-parallel replicas (gradients averaged over the replicas before the update). The collectives run
 * inside the forward and backward, so both are awaited. The weights start as the single-device run's (its
 * initialisation split into shards), the gradient norm sums the shards over the group, and checkpoints hold
 * the merged single-device weights (rank 0) beside each rank's own optimizer state.
 */
import { VisionTransformer } from "@vit/model";
import type { HostTensor } from "@vit/nn";
import type { LossScaler } from "@vit/optim";
import {
  DataParallel,
  type ProcessGroup,
  backwardAsync,
  clipGradNormTensorParallel,
  tensorAndDataParallelGroups,
} from "@vit/parallel";
import { type Device, type Tensor, cast, keep, noGrad, scope, zeros } from "@vit/tensor";
import { type TrainModel, type TrainOptimizer, buildModel, buildOptimizer, vitConfigOf } from "../build.js";
import { CheckpointError } from "../checkpoint/checkpoint.js";
import { ConfigError } from "../config/load.js";
import type { TrainConfig } from "../config/schema.js";
import { loadPretrained } from "../pretrained.js";
import { SingleDeviceStrategy } from "./single-device.js";
import type { StrategyName } from "./strategy.js";
import { type TensorParallelViT, mergeStates, replicatedOf, splitState } from "./tensor-parallel-model.js";

export class TensorParallelStrategy extends SingleDeviceStrategy {
  override readonly name: StrategyName = "megatron";
  override readonly rank: number;
  override readonly worldSize: number;
  override readonly tensorParallelSize: number;
  override readonly dataParallelRank: number;
  protected override readonly ownsOptimizerShard = true;
  /** This rank's tensor-parallel group (consecutive ranks, as Megatron's). */
  readonly tpGroup: ProcessGroup;
  /** The data-parallel group over the tensor-parallel groups (null with tensor parallelism alone). */
  readonly dpGroup: ProcessGroup | null;
  private readonly dp: DataParallel | null;
  /**
   * The single-device model initialised exactly as a tp = 1 run would be, split into the shards when
   * training starts (Megatron's use_cpu_initialization), so a run's weights, and with dropout 0 its losses,
   * do not depend on the parallel layout. Null once used, or when the Trainer was given a model.
   */
  private fullInit: VisionTransformer | null = null;
  /** Global gradient norm of the last step that measured one. */
  private gradNorm = Number.NaN;

  constructor(cfg: TrainConfig, group: ProcessGroup | undefined) {
    super();
    const tp = cfg.model.tensor_model_parallel_size;
    const world = group?.worldSize ?? 1;
    if (!group || world % tp) {
      throw new ConfigError(
        `model.tensor_model_parallel_size=${tp} needs a multiple of ${tp} ranks (trainer.devices × num_nodes = ${world}): ` +
          `consecutive groups of ${tp} ranks split the model, and those groups train as data-parallel replicas`,
        { hint: `launch e.g. \`vit launch --nproc ${tp} -- train ... trainer.devices=${tp}\`` },
      );
    }
    if (world > tp && cfg.model.optim.name === "distributed_fused_adam") {
      throw new ConfigError(
        "model.optim.name=distributed_fused_adam with tensor and data parallelism together is not supported yet",
        {
          hint: "use model.optim.name=adamw (or tensor parallelism alone, where there is nothing to shard it over)",
        },
      );
    }
    if (group.backend === "in-process") {
      throw new ConfigError(
        "tensor parallelism in the trainer needs one process per rank: " +
          "ranks sharing a process would interleave their tensor scopes across the collectives' awaits",
        { hint: "start one process per rank: `vit launch --nproc N -- train ...`" },
      );
    }
    this.rank = group.rank;
    this.worldSize = world;
    this.tensorParallelSize = tp;
    this.dataParallelRank = Math.floor(group.rank / tp);
    if (world === tp) {
      this.tpGroup = group;
      this.dpGroup = null;
    } else {
      const groups = tensorAndDataParallelGroups(world, tp);
      this.tpGroup = group.split(groups.tp);
      this.dpGroup = group.split(groups.dp);
    }
    this.dp = this.dpGroup ? new DataParallel(this.dpGroup) : null;
  }

  /** Every rank runs the forward of each validation batch (only rank 0 records the result). */
  override get evaluates(): boolean {
    return true;
  }

  override buildModel(device: Device, cfg: TrainConfig): TrainModel {
    // Drawn first, from the seed's stream start, exactly as a single-device run draws its model.
    this.fullInit = new VisionTransformer(device, vitConfigOf(cfg.model));
    const afterInit = device.rng.offset;
    const model = buildModel(device, cfg, this.tpGroup);
    // The shards' own draws are overwritten: continue the stream where a tp = 1 run would.
    device.rng.offset = afterInit;
    return model;
  }

  override buildOptimizer(model: TrainModel, cfg: TrainConfig, scaler: LossScaler | null): TrainOptimizer {
    // The optimizer sees this rank's shards only; there is no data-parallel sharding of its state here.
    return buildOptimizer(model, cfg, undefined, scaler);
  }

  /** This rank's shard of the single-device initialisation (or of model.restore_from_path's weights). */
  override async initWeights(model: TrainModel, cfg: TrainConfig, log: (msg: string) => void): Promise<void> {
    const full = this.fullInit;
    if (!full) return; // a model passed to the Trainer keeps its weights
    const path = cfg.model.restore_from_path;
    if (path) for (const note of await loadPretrained(full, path)) log(note);
    model.loadStateDict(
      splitState(await full.stateDictHost(), model as TensorParallelViT, this.tensorParallelSize)[this.tpGroup.rank]!,
    );
  }

  override async syncWeights(_model: TrainModel): Promise<void> {
    this.fullInit?.dispose();
    this.fullInit = null;
  }

  override forwardBackward(
    lossOf: () => Tensor | Promise<Tensor>,
    root: (loss: Tensor) => Tensor,
  ): Promise<Tensor> {
    return scope(async () => {
      const loss = await lossOf();
      // Collectives inside the graph: the asynchronous backward awaits them.
      await backwardAsync(root(loss));
      return keep(loss);
    });
  }

  override async optimizerStep(
    model: TrainModel,
    optimizer: TrainOptimizer,
    opts: { lr: number; gradientClipVal: number; computeNorm: boolean },
  ): Promise<void> {
    if (this.dp) await this.dp.allReduceGradients(model);
    // The optimizer sees only this rank's shards: the global norm sums them over the group.
    if (opts.gradientClipVal > 0 || opts.computeNorm) {
      this.gradNorm = await clipGradNormTensorParallel(this.tpGroup, model, opts.gradientClipVal);
    }
    await optimizer.step({ lr: opts.lr, maxGradNorm: 0, computeNorm: false });
  }

  override async lastGradNorm(_optimizer: TrainOptimizer): Promise<number> {
    return this.gradNorm;
  }

  override async reduceMean(value: number): Promise<number> {
    return this.dpGroup ? (await this.dpGroup.allReduceValues([value], "mean"))[0]! : value;
  }

  /** One GPU reduction per rank, summed over the tensor-parallel shards. */
  override async nonFiniteWeights(model: TrainModel): Promise<number> {
    const bad = await super.nonFiniteWeights(model);
    return (await this.tpGroup.allReduceValues([bad], "sum"))[0]!;
  }

  /** The shards gathered and merged into single-device weights on rank 0 (every rank takes part). */
  protected override async checkpointWeights(model: TrainModel): Promise<Record<string, HostTensor> | null> {
    const tp = this.tensorParallelSize;
    const shards: Array<Record<string, HostTensor>> = Array.from({ length: tp }, () => ({}));
    const isReplicated = replicatedOf(model as TensorParallelViT);
    for (const [name, t] of Object.entries(model.stateDict())) {
      if (isReplicated(name)) {
        if (this.rank !== 0) continue;
        const data = Float32Array.from((await t.data()) as ArrayLike<number>);
        for (const s of shards) s[name] = { dtype: "F32", shape: [...t.shape], data };
        continue;
      }
      const [all, own] = noGrad(() => [
        zeros(t.device, [tp * t.numel]),
        t.dtype === "f32" ? t : cast(t, "f32"),
      ]);
      await this.tpGroup.allGather(all, own);
      if (this.rank === 0) {
        const data = (await all.data()) as Float32Array;
        shards.forEach((s, r) => {
          s[name] = { dtype: "F32", shape: [...t.shape], data: data.slice(r * t.numel, (r + 1) * t.numel) };
        });
      }
      all.dispose();
      if (own !== t) own.dispose();
    }
    return this.rank === 0 ? mergeStates(shards, model as TensorParallelViT) : null;
  }

  protected override loadWeights(
    model: TrainModel,
    weights: Record<string, HostTensor>,
    path: string,
    saved: TrainConfig,
  ): void {
    const savedTp = saved.model.tensor_model_parallel_size ?? 1;
    if (savedTp !== this.tensorParallelSize) {
      throw new CheckpointError(
        `resume: ${path} was written with tensor_model_parallel_size=${savedTp}, this run uses ${this.tensorParallelSize}; ` +
          "its optimizer state is per rank",
        {
          hint: "resume with the same size, or start a new run from its weights with model.restore_from_path",
        },
      );
    }
    model.loadStateDict(splitState(weights, model as TensorParallelViT, this.tensorParallelSize)[this.tpGroup.rank]!);
  }

  override dispose(): void {
    this.dp?.dispose();
    this.fullInit?.dispose();
  }
}
