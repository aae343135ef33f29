/** LayerNorm over the last axis (fused forward/backward kernels in @vit/tensor). */
import { type Device, type Tensor, layerNorm, ones, zeros } from "@vit/tensor";
import { Module } from "../module.js";

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    device: Device,
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.registerParameter("weight", ones(device, [dim]));
    this.bias = this.registerParameter("bias", zeros(device, [dim]));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${this.dim}, eps=${this.eps}`;
  }
}
