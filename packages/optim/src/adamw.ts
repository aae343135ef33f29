/**
 * Adam / AdamW as Megatron's fused Adam: decoupled weight decay (p ← p − lr·wd·p) when `decoupled`
 * (AdamW, the default), L2 added to the gradient otherwise (Adam). Bias-corrected. One dispatch per
 * parameter updates p, m and v in place; the gradient is scaled by the clip coefficient on the GPU.
 */
import { type Tensor, declareBindings, defineKernel, grid1D, main1D } from "@vit/tensor";
import { Optimizer } from "./optimizer.js";
import type { ParamGroup } from "./param-groups.js";

export interface AdamWOptions {
  betas?: [number, number];
  eps?: number;
  /** true: AdamW (decoupled decay, default); false: Adam with L2 in the gradient. */
  decoupled?: boolean;
}

const FIELDS = [
  ["n", "u32"],
  ["lr", "f32"],
  ["beta1", "f32"],
  ["beta2", "f32"],
  ["eps", "f32"],
  ["wd", "f32"],
  ["bc1", "f32"],
  ["bc2", "f32"],
  ["decoupled", "u32"],
  ["gpuStep", "u32"],
] as const;

const adamwKernel = defineKernel(
  "adamw_update",
  (_: Record<string, never>) => `${declareBindings(
    [
      { name: "p", type: "f32", access: "read_write" },
      { name: "g", type: "f32", access: "read" },
      { name: "m", type: "f32", access: "read_write" },
      { name: "v", type: "f32", access: "read_write" },
      { name: "coef", type: "f32", access: "read" },
    ],
    FIELDS,
  )}
${main1D()}
  // coef[2]: the loss scaler found an overflow; the step is skipped (p, m, v unchanged).
  if (idx >= P.n || coef[2] != 0.0) { return; }
  var bc1 = P.bc1;
  var bc2 = P.bc2;
  if (P.gpuStep == 1u) {
    // With a loss scaler the applied-step count lives on the GPU (skipped steps do not count).
    bc1 = 1.0 - pow(P.beta1, coef[3]);
    bc2 = 1.0 - pow(P.beta2, coef[3]);
  }
  var grad = g[idx] * coef[0];
  var w = p[idx];
  if (P.decoupled == 1u) { w = w - P.lr * P.wd * w; } else { grad = grad + P.wd * w; }
  let mt = P.beta1 * m[idx] + (1.0 - P.beta1) * grad;
  let vt = P.beta2 * v[idx] + (1.0 - P.beta2) * grad * grad;
  m[idx] = mt;
  v[idx] = vt;
  p[idx] = w - P.lr * (mt / bc1) / (sqrt(vt / bc2) + P.eps);
}`,
);

export class AdamW extends Optimizer {
  readonly stateNames = ["exp_avg", "exp_avg_sq"];
  readonly betas: [number, number];
  readonly eps: number;
  readonly decoupled: boolean;

  constructor(groups: ParamGroup[], opts: AdamWOptions = {}) {
    super(groups);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.decoupled = opts.decoupled ?? true;
  }

  protected update(p: Tensor, g: Tensor, [m, v]: Tensor[], lr: number, wd: number): void {
    const [b1, b2] = this.betas;
    const t = this.stepCount;
    this.device.run({
      name: "adamw",
      kernel: adamwKernel,
      variant: {},
      buffers: [p.buffer, g.buffer, m!.buffer, v!.buffer, this.coefBuffer],
      uniforms: {
        fields: FIELDS,
        values: [
          p.numel,
          lr,
          b1,
          b2,
          this.eps,
          wd,
          1 - b1 ** t,
          1 - b2 ** t,
          this.decoupled ? 1 : 0,
          this.lossScaler ? 1 : 0,
        ],
      },
      workgroups: grid1D(p.numel),
    });
  }
}
