/**
 * Activation checkpointing for layers whose forward communicates (Megatron's tensor_parallel.checkpoint):
 * @vit/tensor's checkpoint() takes a synchronous function, but a tensor-parallel layer awaits its
 * collectives. The forward runs without recording a graph; the recorded node's backward restores the RNG
 * streams the forward drew from (the device's and the model-parallel one, so dropout masks repeat
 * exactly), recomputes the function with its collectives, and back-propagates through the recomputation
 * with backwardAsync. Every rank does the same, so the collectives stay in lockstep.
 *
 * Scopes: like all async tensor code, one rank per process (the trainer's rule under `vit launch`).
 */
import { type Tensor, isGradEnabled, noGrad, scope } from "@vit/tensor";
import { backwardAsync, recordAsync } from "../autograd-async.js";
import type { ModelParallelRng } from "./random.js";

export async function checkpointAsync(
  fn: (...xs: Tensor[]) => Promise<Tensor>,
  streams: ModelParallelRng[],
  ...inputs: Tensor[]
): Promise<Tensor> {
  if (!isGradEnabled()) return fn(...inputs);
  const device = inputs[0]!.device;
  const at = { offset: device.rng.offset, streams: streams.map((s) => s.offset) };
  const out = await scope(() => noGrad(() => fn(...inputs)));
  return recordAsync(out, {
    name: "checkpoint",
    inputs,
    backwardAsync: async (g) => {
      const resume = { offset: device.rng.offset, streams: streams.map((s) => s.offset) };
      device.rng.offset = at.offset;
      streams.forEach((s, i) => {
        s.offset = at.streams[i]!;
      });
      try {
        return await scope(async () => {
          const detached = inputs.map((x) => {
            const d = x.view(x.shape);
            d.requiresGrad = x.requiresGrad;
            return d;
          });
          const recomputed = await fn(...detached);
          await backwardAsync([recomputed], [g]);
          return detached.map((d) => {
            const grad = d.grad;
            d.grad = null;
            return grad;
          });
        });
      } finally {
        device.rng.offset = resume.offset;
        streams.forEach((s, i) => {
          s.offset = resume.streams[i]!;
        });
      }
    },
  });
}
