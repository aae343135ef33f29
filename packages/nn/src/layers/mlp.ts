/** Transformer MLP: fc1 → GELU → fc2 (Megatron's dense_h_to_4h / dense_4h_to_h, timm's Mlp). */
import type { Device, Tensor } from "@vit/tensor";
import type { Init } from "../init.js";
import { Module } from "../module.js";
import { GELU, type GELUApproximate } from "./activation.js";
import { Linear } from "./linear.js";

export interface MLPOptions {
  activation?: GELUApproximate;
  init?: Init;
  /** Init of fc2 (Megatron scales output projections by 1/√(2L)). */
  outInit?: Init;
}

export class MLP extends Module {
  readonly fc1: Linear;
  readonly act: GELU;
  readonly fc2: Linear;

  constructor(device: Device, dim: number, hidden: number, opts: MLPOptions = {}) {
    super();
    this.fc1 = this.registerModule("fc1", new Linear(device, dim, hidden, opts.init ? { init: opts.init } : {}));
    this.act = this.registerModule("act", new GELU(opts.activation ?? "none"));
    this.fc2 = this.registerModule("fc2", new Linear(device, hidden, dim, opts.outInit ? { init: opts.outInit } : {}));
  }

  /** fc2(GELU(fc1(x))) (+ residual); the GELU and the residual add are fused into the matmuls. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    const activation = this.act.approximate === "tanh" ? "gelu_tanh" : "gelu";
    return this.fc2.forward(this.fc1.forward(x, { activation }), residual ? { residual } : {});
  }
}
