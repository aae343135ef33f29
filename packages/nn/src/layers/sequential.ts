/** Runs child modules in order; children are named "0", "1", ... as in torch.nn.Sequential. */
import type { Tensor } from "@vit/tensor";
import { Module } from "../module.js";

export interface Forward {
  forward(x: Tensor): Tensor;
}

export class Sequential extends Module {
  private readonly layers: Array<Module & Forward>;
  constructor(...layers: Array<Module & Forward>) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, l) => l.forward(h), x);
  }
  get length(): number {
    return this.layers.length;
  }
  at(i: number): Module & Forward {
    return this.layers[i]!;
  }
}
