/**
 * Megatron's parallel linear layers (core/tensor_parallel/layers.py), y = x·Wᵀ + b with W [out, in]:
 *
 * - ColumnParallelLinear splits W along the output features: rank r holds rows [r·out/p, (r+1)·out/p)
 *   and their bias. Forward: copy-to-region (identity; its backward all-reduces the input's gradient),
 *   then the local matmul; the output stays split unless `gatherOutput`.
 * - RowParallelLinear splits W along the input features: rank r holds columns [r·in/p, (r+1)·in/p).
 *   Forward: the local matmul gives a partial sum, reduce-from-region all-reduces it, and the bias (whole,
 *   replicated) is added after the reduction so it is counted once.
 *
 * A column layer followed by a row layer (qkv → proj, fc1 → fc2) therefore communicates once forward
 * and once backward. The split weights are initialised on the rank's model-parallel RNG stream so shards
 * differ; to reproduce a single-device model, load a state dict split with splitTensorParallelStateDict.
 */
import { type Init, Module, normal, zerosInit } from "@vit/nn";
import { type Device, type Tensor, add, matmul } from "@vit/tensor";
import type { ProcessGroup } from "../process-group.js";
import {
  copyToTensorParallelRegion,
  gatherFromTensorParallelRegion,
  reduceFromTensorParallelRegion,
  scatterToTensorParallelRegion,
} from "./mappings.js";
import type { ModelParallelRng } from "./random.js";
import type { Partition, TensorParallelModule } from "./state-dict.js";
import { divide } from "./utils.js";

export interface ParallelLinearOptions {
  bias?: boolean;
  /** Initialiser of the local weight shard (default N(0, 0.02)). */
  init?: Init;
  biasInit?: Init;
  /** Stream for the split weight's init (default: the device's own stream). */
  rng?: ModelParallelRng;
}

const defaultInit: Init = (d, s) => normal(d, s, 0.02);

export class ColumnParallelLinear extends Module implements TensorParallelModule {
  readonly outPerRank: number;
  /** weight and bias split on the output features (dim 0), in `stride` stacked blocks. */
  readonly tensorParallelPartitions: Record<string, Partition>;
  private readonly hasBias: boolean;
  readonly gatherOutput: boolean;

  constructor(
    device: Device,
    readonly group: ProcessGroup,
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: ParallelLinearOptions & {
      gatherOutput?: boolean;
      /**
       * The output is this many blocks stacked (3 for a fused q|k|v projection): each rank holds its share
       * of every block, so full checkpoints keep the stacked layout. Default 1.
       */
      stride?: number;
    } = {},
  ) {
    super();
    const stride = opts.stride ?? 1;
    this.outPerRank =
      divide(
        divide(outFeatures, stride, "ColumnParallelLinear blocks"),
        group.worldSize,
        "ColumnParallelLinear output features",
      ) * stride;
    this.gatherOutput = opts.gatherOutput ?? false;
    const init = opts.init ?? defaultInit;
    const draw = () => init(device, [this.outPerRank, inFeatures]);
    this.registerParameter("weight", opts.rng ? opts.rng.fork(device, draw) : draw());
    const biasInit = opts.biasInit ?? zerosInit;
    const drawBias = () => biasInit(device, [this.outPerRank]);
    this.hasBias = opts.bias !== false;
    if (this.hasBias) this.registerParameter("bias", opts.rng ? opts.rng.fork(device, drawBias) : drawBias());
    const split = { dim: 0, stride };
    this.tensorParallelPartitions = this.hasBias ? { weight: split, bias: split } : { weight: split };
  }

  /** Read through the registry (as Linear does), so Module.replaceParameters takes effect. */
  get weight(): Tensor {
    return this.param("weight");
  }

  get bias(): Tensor | null {
    return this.hasBias ? this.param("bias") : null;
  }

  /** x: [..., in] (replicated) → [..., out/p], or [..., out] with gatherOutput. */
  async forward(x: Tensor): Promise<Tensor> {
    const xp = copyToTensorParallelRegion(x, this.group);
    const y = matmul(xp, this.weight, { transB: true, ...(this.bias ? { bias: this.bias } : {}) });
    return this.gatherOutput ? gatherFromTensorParallelRegion(y, this.group) : y;
  }

  override extraRepr(): string {
    return `in=${this.inFeatures}, out=${this.outFeatures} (${this.outPerRank} on rank ${this.group.rank}/${this.group.worldSize}), bias=${!!this.bias}`;
  }
}

export class RowParallelLinear extends Module implements TensorParallelModule {
  readonly inPerRank: number;
  /** weight split on the input features (dim 1); the bias is whole on every rank. */
  readonly tensorParallelPartitions: Record<string, Partition> = { weight: { dim: 1, stride: 1 } };
  private readonly hasBias: boolean;
  readonly inputIsParallel: boolean;

  constructor(
    device: Device,
    readonly group: ProcessGroup,
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: ParallelLinearOptions & { inputIsParallel?: boolean } = {},
  ) {
    super();
    this.inPerRank = divide(inFeatures, group.worldSize, "RowParallelLinear input features");
    this.inputIsParallel = opts.inputIsParallel ?? true;
    const init = opts.init ?? defaultInit;
    const draw = () => init(device, [outFeatures, this.inPerRank]);
    this.registerParameter("weight", opts.rng ? opts.rng.fork(device, draw) : draw());
    // The bias is whole on every rank and drawn on the default stream, so replicas agree.
    this.hasBias = opts.bias !== false;
    if (this.hasBias) this.registerParameter("bias", (opts.biasInit ?? zerosInit)(device, [outFeatures]));
  }

  get weight(): Tensor {
    return this.param("weight");
  }

  get bias(): Tensor | null {
    return this.hasBias ? this.param("bias") : null;
  }

  /** x: [..., in/p] (split; or [..., in] replicated when !inputIsParallel) → [..., out] replicated. */
  async forward(x: Tensor): Promise<Tensor> {
    const xp = this.inputIsParallel ? x : scatterToTensorParallelRegion(x, this.group);
    const partial = matmul(xp, this.weight, { transB: true });
    const y = await reduceFromTensorParallelRegion(partial, this.group);
    return this.bias ? add(y, this.bias) : y;
  }

  override extraRepr(): string {
    return `in=${this.inFeatures} (${this.inPerRank} on rank ${this.group.rank}/${this.group.worldSize}), out=${this.outFeatures}, bias=${!!this.bias}`;
  }
}
