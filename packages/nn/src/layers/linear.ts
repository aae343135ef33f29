/** y = x·Wᵀ + b, W: [out, in] (PyTorch layout), one fused matmul+bias dispatch. */
import { type Device, type Tensor, matmul } from "@vit/tensor";
import { type Init, normal, zerosInit } from "../init.js";
import { Module } from "../module.js";

export interface LinearOptions {
  bias?: boolean;
  /** Weight initialiser (default N(0, 0.02)). */
  init?: Init;
  biasInit?: Init;
}

export class Linear extends Module {
  private readonly hasBias: boolean;

  /** Read through the registry so replaceParameters (e.g. bf16 for O2) takes effect. */
  get weight(): Tensor {
    return this.param("weight");
  }

  get bias(): Tensor | null {
    return this.hasBias ? this.param("bias") : null;
  }

  constructor(
    device: Device,
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    this.registerParameter("weight", (opts.init ?? ((d, s) => normal(d, s, 0.02)))(device, [outFeatures, inFeatures]));
    this.hasBias = opts.bias !== false;
    if (this.hasBias) this.registerParameter("bias", (opts.biasInit ?? zerosInit)(device, [outFeatures]));
  }

  forward(x: Tensor): Tensor {
    return matmul(x, this.weight, { transB: true, ...(this.bias ? { bias: this.bias } : {}) });
  }

  override extraRepr(): string {
    return `in=${this.inFeatures}, out=${this.outFeatures}, bias=${!!this.bias}`;
  }
}
