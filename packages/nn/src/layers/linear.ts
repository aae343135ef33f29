/** y = x·Wᵀ + b, W: [out, in] (PyTorch layout), one fused matmul+bias dispatch. */
import { type Device, type MatmulActivation, type Tensor, matmul } from "@vit/tensor";

export interface LinearEpilogue {
  activation?: MatmulActivation;
  /** Added to the output (a residual connection). */
  residual?: Tensor;
}
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

  /**
   * x·Wᵀ + b, optionally followed by an activation and a residual add fused into the same kernel
   * (one dispatch instead of three).
   */
  forward(x: Tensor, epilogue: LinearEpilogue = {}): Tensor {
    return matmul(x, this.weight, {
      transB: true,
      ...(this.bias ? { bias: this.bias } : {}),
      ...(epilogue.activation ? { activation: epilogue.activation } : {}),
      ...(epilogue.residual ? { residual: epilogue.residual } : {}),
    });
  }

  override extraRepr(): string {
    return `in=${this.inFeatures}, out=${this.outFeatures}, bias=${!!this.bias}`;
  }
}
