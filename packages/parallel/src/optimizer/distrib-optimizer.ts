/**
 * The distributed optimizer (ZeRO stage 1; Megatron core/optimizer/distrib_optimizer.py, PyTorch's
 * ZeroRedundancyOptimizer): optimizer state is sharded over the data-parallel ranks instead of
 * replicated. Each step
 *   1. averages the gradients over the ranks (bucketed all-reduce, as DataParallel);
 *   2. computes the global gradient norm — each rank sums the squares of the gradients it owns, and a
 *      one-number all-reduce adds them up — and scales its gradients for clipping;
 *   3. runs the wrapped @vit/optim optimizer (AdamW, SGD) on the parameters this rank owns, so only
 *      their state (Adam's m and v) exists on this rank;
 *   4. broadcasts every parameter from its owner (bucketed), so every rank again holds the whole model.
 *
 * Partitioning is by parameter: each parameter is owned by one rank, assigned largest first to the
 * least-loaded rank (deterministic, so every rank computes the same assignment). Megatron partitions a
 * flat buffer into equal ranges regardless of parameter boundaries, which balances exactly, but its
 * shards are views at offsets into parameter and gradient buffers; @vit/tensor binds whole buffers, so a
 * range would have to be a copy of the parameter and of its gradient — and those copies cost as much
 * memory as the sharded Adam state saves when the world is small (2 ranks: no saving at all). Whole
 * parameters need no copies; the wrapped optimizer updates the model's own tensors.
 *
 * Use it instead of DataParallel.allReduceGradients + optimizer.step: `await dopt.step({lr, maxGradNorm})`.
 */
import { type Optimizer, OptimizerError, type ParamGroup, type StepOptions } from "@vit/optim";
import { type Tensor, add, mulScalar, noGrad, scope, square, sum } from "@vit/tensor";
import { DEFAULT_BUCKET_BYTES } from "../distributed/buckets.js";
import { DataParallel, broadcastParameters } from "../distributed/data-parallel.js";
import type { ProcessGroup } from "../process-group.js";

export interface DistributedOptimizerOptions {
  /** Target bucket size in bytes of the gradient all-reduce and the parameter broadcasts (default 25 MiB). */
  bucketBytes?: number;
}

/** Builds the wrapped optimizer over this rank's parameters, e.g. `(g) => new AdamW(g, { betas })`. */
export type OptimizerFactory = (groups: ParamGroup[]) => Optimizer;

/** Owner rank of each parameter: largest first, each to the rank holding the fewest elements so far. */
export function partitionParameters(
  named: ReadonlyArray<readonly [string, Tensor]>,
  worldSize: number,
): number[] {
  const load = new Array<number>(worldSize).fill(0);
  const owner = new Array<number>(named.length).fill(0);
  const order = named.map((_, i) => i).sort((a, b) => named[b]![1].numel - named[a]![1].numel || a - b);
  for (const i of order) {
    let best = 0;
    for (let r = 1; r < worldSize; r++) if (load[r]! < load[best]!) best = r;
    owner[i] = best;
    load[best]! += named[i]![1].numel;
  }
  return owner;
}

export class DistributedOptimizer {
  /** The wrapped optimizer over this rank's parameters (null when it owns none: more ranks than parameters). */
  readonly inner: Optimizer | null;
  /** Owner rank of each parameter, in the order of the parameter groups. */
  readonly owners: number[];
  private readonly named: Array<[string, Tensor]>;
  private readonly owned: Array<[string, Tensor]>;
  /** Parameters by owner rank, for the broadcasts. */
  private readonly byOwner: Array<Array<[string, Tensor]>>;
  private readonly dp: DataParallel;
  private readonly bucketBytes: number;
  private gradNorm = 0;
  private scaledStep = false;

  constructor(
    readonly group: ProcessGroup,
    groups: ParamGroup[],
    makeOptimizer: OptimizerFactory,
    opts: DistributedOptimizerOptions = {},
  ) {
    this.named = groups.flatMap((g) => g.params);
    if (!this.named.length) {
      throw new OptimizerError("DistributedOptimizer: no parameters to optimise", {
        hint: "pass the model's parameters; if all are frozen, unfreeze some (requiresGrad)",
      });
    }
    this.bucketBytes = opts.bucketBytes ?? DEFAULT_BUCKET_BYTES;
    this.owners = partitionParameters(this.named, group.worldSize);
    const mine = new Set(this.named.filter((_, i) => this.owners[i] === group.rank).map(([, p]) => p));
    this.owned = this.named.filter(([, p]) => mine.has(p));
    this.byOwner = Array.from({ length: group.worldSize }, (_, r) =>
      this.named.filter((_, i) => this.owners[i] === r),
    );
    const innerGroups = groups
      .map((g) => ({ ...g, params: g.params.filter(([, p]) => mine.has(p)) }))
      .filter((g) => g.params.length > 0);
    this.inner = innerGroups.length ? makeOptimizer(innerGroups) : null;
    this.dp = new DataParallel(group, { bucketBytes: this.bucketBytes });
  }

  /** Steps taken (the wrapped optimizer's count). */
  get stepCount(): number {
    return this.inner?.stepCount ?? 0;
  }

  /** One optimizer step over the whole data-parallel group (a collective: every rank calls it). */
  async step(opts: StepOptions): Promise<void> {
    // 1. Average the gradients.
    await this.dp.allReduceGradients(this.named);
    // 2. Global norm from the owned gradients (every element is owned by exactly one rank).
    let local = 0;
    if (this.owned.length) {
      const sq = noGrad(() =>
        scope(() => this.owned.map(([, p]) => sum(square(p.grad!))).reduce((a, b) => add(a, b))),
      );
      try {
        local = (await sq.data())[0]!;
      } finally {
        sq.dispose();
      }
    }
    const [total] = await this.group.allReduceValues([local], "sum");
    const max = opts.maxGradNorm ?? 0;
    if (this.inner?.lossScaler) {
      // fp16: the gradients are loss-scaled. The all-reduced sum of squares is the overflow test every rank
      // agrees on (an Inf or NaN anywhere makes it non-finite on all of them); the wrapped optimizer's GPU
      // kernel unscales, clips, skips on overflow and updates the scaler from it.
      this.scaledStep = true;
      this.inner.step({ lr: opts.lr, maxGradNorm: max, sumOfSquares: total! });
    } else {
      this.scaledStep = false;
      this.unscaledStep(total!, max, opts.lr);
    }
    // 4. Every parameter from its owner to every rank.
    for (let r = 0; r < this.group.worldSize; r++) {
      if (this.byOwner[r]!.length)
        await broadcastParameters(this.group, this.byOwner[r]!, r, this.bucketBytes);
    }
  }

  private unscaledStep(total: number, max: number, lr: number): void {
    this.gradNorm = Math.sqrt(total);
    const coef = max > 0 ? Math.min(1, max / (this.gradNorm + 1e-6)) : 1;
    if (coef < 1) {
      noGrad(() =>
        scope(() => {
          for (const [, p] of this.owned)
            p.device.copy(mulScalar(p.grad!, coef).buffer, 0, p.grad!.buffer, 0, p.numel * 4);
        }),
      );
    }
    // 3. Update the owned parameters (clipping already applied).
    this.inner?.step({ lr, maxGradNorm: 0 });
  }

  /** The global gradient norm of the last step, before clipping (unscaled under a loss scaler). */
  async lastGradNorm(): Promise<number> {
    return this.scaledStep && this.inner ? this.inner.lastGradNorm() : this.gradNorm;
  }

  /** Drops the model's gradients (backward allocates fresh ones). */
  zeroGrad(): void {
    for (const [, p] of this.named) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** This rank's shard of the optimizer state, named `${param}.${state}` (for per-rank checkpoints). */
  stateTensors(): Record<string, Tensor> {
    return this.inner?.stateTensors() ?? {};
  }

  /** Bytes of optimizer state held by this rank. */
  stateBytes(): number {
    return Object.values(this.stateTensors()).reduce((a, t) => a + t.numel * 4, 0);
  }

  /** Names of the parameters this rank owns (updates, and holds optimizer state for). */
  ownedParameters(): string[] {
    return this.owned.map(([n]) => n);
  }

  dispose(): void {
    this.inner?.dispose();
    this.dp.dispose();
  }
}
