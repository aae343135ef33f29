/**
 * Optimizer base: parameter groups, per-parameter state tensors, gradient clipping, zeroing and a
 * serialisable state (for checkpoints). Subclasses supply one fused update kernel per parameter:
 * p, its state and its gradient are read and written in one dispatch.
 */
import { type Device, type Tensor, cast, keep, noGrad, zeros } from "@vit/tensor";
import { OptimizerError } from "./errors.js";
import { GradNorm } from "./grad-norm.js";
import type { LossScaler } from "./loss-scaler.js";
import type { ParamGroup } from "./param-groups.js";

export interface StepOptions {
  /** Learning rate for this step (from the scheduler). */
  lr: number;
  /** Clip the global gradient norm to this value (0 or undefined: no clipping). */
  maxGradNorm?: number;
  /**
   * Compute the global gradient norm for lastGradNorm() even without clipping (default: only when
   * clipping, so an unclipped step costs no extra dispatches — PyTorch does not compute it either).
   */
  computeNorm?: boolean;
  /**
   * The global sum of squares of the gradients, computed by the caller (the distributed optimizer): the
   * coefficient and the loss scaler's overflow test use it instead of this optimizer's own gradients.
   */
  sumOfSquares?: number;
}

export abstract class Optimizer {
  readonly device: Device;
  /** Number of step() calls so far (Adam's bias correction uses it). */
  stepCount = 0;
  protected readonly state = new Map<Tensor, Tensor[]>();
  /** fp32 master copies of half parameters (Megatron's O2: bf16/f16 weights, fp32 master in the optimizer). */
  protected readonly masters = new Map<Tensor, Tensor>();
  protected readonly gradNorm: GradNorm;
  /**
   * fp16 training: the gradients are scaled by this scaler's S. Every step then measures the norm (the
   * overflow test), divides by S in the update kernels, and skips the update on overflow, all on the GPU.
   */
  lossScaler: LossScaler | null = null;
  private readonly all: Array<{ name: string; p: Tensor; group: ParamGroup }>;

  constructor(readonly groups: ParamGroup[]) {
    this.all = groups.flatMap((g) => g.params.map(([name, p]) => ({ name, p, group: g })));
    if (!this.all.length) {
      throw new OptimizerError("Optimizer: no parameters to optimise", {
        hint: "pass the model's parameters; if all are frozen, unfreeze some (requiresGrad) or skip the optimizer",
      });
    }
    this.device = this.all[0]!.p.device;
    this.gradNorm = new GradNorm(this.device, this.all.length);
  }

  /** Names of the per-parameter state tensors (e.g. ["exp_avg", "exp_avg_sq"]). */
  abstract readonly stateNames: string[];

  protected stateOf(p: Tensor): Tensor[] {
    let s = this.state.get(p);
    if (!s) {
      s = this.stateNames.map(() => keep(zeros(this.device, p.shape)));
      this.state.set(p, s);
    }
    return s;
  }

  /** Records the update of every parameter that has a gradient. No readback. */
  step(opts: StepOptions): void {
    this.stepCount++;
    const withGrad = this.all.filter((e) => e.p.grad);
    const clip = opts.maxGradNorm ?? 0;
    const scaler = this.lossScaler ?? undefined;
    if (opts.sumOfSquares !== undefined) this.gradNorm.fromSumOfSquares(opts.sumOfSquares, clip, scaler);
    else if (clip > 0 || opts.computeNorm || scaler)
      this.gradNorm.compute(
        withGrad.map((e) => e.p.grad!),
        clip,
        scaler,
      );
    else this.gradNorm.skip();
    for (const e of withGrad) {
      const target = e.p.dtype !== "f32" ? this.masterOf(e.p) : e.p;
      this.update(
        target,
        e.p.grad!,
        this.stateOf(e.p),
        opts.lr * (e.group.lrScale ?? 1),
        e.group.weightDecay,
      );
      if (target !== e.p) {
        // Write the updated master back to the half weight (round to nearest even). A skipped step
        // leaves the master as it was, so this rewrites the same value.
        const rounded = noGrad(() => cast(target, e.p.dtype));
        this.device.copy(rounded.buffer, 0, e.p.buffer, 0, Math.ceil(e.p.numel / 2) * 4);
        rounded.dispose();
      }
    }
  }

  /** The fp32 master weight of a half (bf16/f16) parameter, created from its current value on first use. */
  masterOf(p: Tensor): Tensor {
    let m = this.masters.get(p);
    if (!m) {
      m = keep(noGrad(() => cast(p, "f32")));
      this.masters.set(p, m);
    }
    return m;
  }

  /** The global gradient norm of the last step (before clipping). A sync point. */
  lastGradNorm(): Promise<number> {
    return this.gradNorm.norm();
  }

  /** Drops every gradient (PyTorch's zero_grad(set_to_none=True)): backward allocates fresh ones. */
  zeroGrad(): void {
    for (const e of this.all) {
      e.p.grad?.dispose();
      e.p.grad = null;
    }
  }

  protected abstract update(p: Tensor, g: Tensor, state: Tensor[], lr: number, weightDecay: number): void;

  /** Named state tensors for checkpoints: `${param}.${stateName}`. */
  stateTensors(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const e of this.all) {
      const s = this.stateOf(e.p);
      this.stateNames.forEach((n, i) => {
        out[`${e.name}.${n}`] = s[i]!;
      });
      if (e.p.dtype !== "f32") out[`${e.name}.master`] = this.masterOf(e.p);
    }
    return out;
  }

  get coefBuffer(): GPUBuffer {
    return this.gradNorm.coef.buffer;
  }

  dispose(): void {
    for (const s of this.state.values()) for (const t of s) t.dispose();
    this.state.clear();
    for (const m of this.masters.values()) m.dispose();
    this.masters.clear();
    this.gradNorm.dispose();
  }
}
