/**
 * SGD with momentum (PyTorch semantics: buf ← μ·buf + (1−dampening)·g; Nesterov uses g + μ·buf), L2
 * weight decay added to the gradient. One fused dispatch per parameter.
 */
import { type Tensor, declareBindings, defineKernel, grid1D, main1D } from "@vit/tensor";
import { OptimizerError } from "./errors.js";
import { Optimizer } from "./optimizer.js";
import type { ParamGroup } from "./param-groups.js";

export interface SGDOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
}

const FIELDS = [
  ["n", "u32"],
  ["lr", "f32"],
  ["mu", "f32"],
  ["damp", "f32"],
  ["wd", "f32"],
  ["nesterov", "u32"],
  ["first", "u32"],
  ["gpuStep", "u32"],
] as const;

const sgdKernel = defineKernel(
  "sgd_update",
  (_: Record<string, never>) => `${declareBindings(
    [
      { name: "p", type: "f32", access: "read_write" },
      { name: "g", type: "f32", access: "read" },
      { name: "b", type: "f32", access: "read_write" },
      { name: "coef", type: "f32", access: "read" },
    ],
    FIELDS,
  )}
${main1D()}
  // coef[2]: the loss scaler found an overflow; the step is skipped.
  if (idx >= P.n || coef[2] != 0.0) { return; }
  // With a loss scaler the applied-step count is coef[3] (skipped steps do not count).
  let first = select(P.first == 1u, coef[3] == 1.0, P.gpuStep == 1u);
  var d = g[idx] * coef[0] + P.wd * p[idx];
  if (P.mu != 0.0) {
    // PyTorch initialises the buffer with the first gradient (no dampening on step 1).
    let bt = select(P.mu * b[idx] + (1.0 - P.damp) * d, d, first);
    b[idx] = bt;
    d = select(bt, d + P.mu * bt, P.nesterov == 1u);
  }
  p[idx] = p[idx] - P.lr * d;
}`,
);

export class SGD extends Optimizer {
  readonly stateNames = ["momentum_buffer"];
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;

  constructor(groups: ParamGroup[], opts: SGDOptions = {}) {
    super(groups);
    this.momentum = opts.momentum ?? 0.9;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new OptimizerError(
        `SGD: Nesterov momentum needs momentum > 0 and dampening = 0 (got momentum ${this.momentum}, dampening ${this.dampening})`,
        { hint: "set momentum > 0 and dampening = 0, or turn nesterov off" },
      );
    }
  }

  protected update(p: Tensor, g: Tensor, [buf]: Tensor[], lr: number, wd: number): void {
    this.device.run({
      name: "sgd",
      kernel: sgdKernel,
      variant: {},
      buffers: [p.buffer, g.buffer, buf!.buffer, this.coefBuffer],
      uniforms: {
        fields: FIELDS,
        values: [
          p.numel,
          lr,
          this.momentum,
          this.dampening,
          wd,
          this.nesterov ? 1 : 0,
          this.stepCount === 1 ? 1 : 0,
          this.lossScaler ? 1 : 0,
        ],
      },
      workgroups: grid1D(p.numel),
    });
  }
}
