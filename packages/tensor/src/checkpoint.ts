/**
 * Activation checkpointing (torch.utils.checkpoint): run `fn` without keeping its intermediates, and
 * recompute them during backward. The device RNG offset is replayed so dropout masks are identical, so
 * gradients match the un-checkpointed run exactly.
 */
import { enableGrad, isGradEnabled, noGrad, record } from "./autograd.js";
import { backwardFrom } from "./backward.js";
import { scope } from "./scope.js";
import type { Tensor } from "./tensor.js";

export function checkpoint(fn: (...xs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor {
  if (!isGradEnabled()) return fn(...inputs);
  const device = inputs[0]!.device;
  const rngOffset = device.rng.offset;
  const out = scope(() => noGrad(() => fn(...inputs)));
  record(out, {
    name: "checkpoint",
    inputs,
    backward: (g) => {
      const resume = device.rng.offset;
      device.rng.offset = rngOffset;
      try {
        return scope(() => {
          const detached = inputs.map((x) => {
            const d = x.view(x.shape);
            d.requiresGrad = x.requiresGrad;
            return d;
          });
          const recomputed = enableGrad(() => fn(...detached));
          backwardFrom([recomputed], [g]);
          return detached.map((d) => {
            const gr = d.grad;
            d.grad = null;
            return gr;
          });
        });
      } finally {
        device.rng.offset = resume;
      }
    },
  });
  return out;
}
