/** Stateless layers: Dropout (Philox masks, reproducible under recomputation) and GELU. */
import { type Tensor, dropout, gelu, geluTanh } from "@vit/tensor";
import { Module } from "../module.js";

export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

export type GELUApproximate = "none" | "tanh";

export class GELU extends Module {
  constructor(readonly approximate: GELUApproximate = "none") {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.approximate === "tanh" ? geluTanh(x) : gelu(x);
  }
  override extraRepr(): string {
    return `approximate=${this.approximate}`;
  }
}
