/**
 * Activation checkpointing for layers whose forward communicates (Megatron's tensor_parallel.checkpoint):
 * @vit/tensor's checkpoint() with an async `fn`. It is the same implementation (checkpointWith): the
 * forward runs without recording a graph; the recorded node's backward replays the RNG streams the
 * forward drew from (the device's and the model-parallel ones, so dropout masks repeat exactly),
 * recomputes the function under enableGrad with its collectives, and back-propagates through the
 * recomputation with backwardAsync. Every rank does the same, so the collectives stay in lockstep.
 *
 * Scopes: like all async tensor code, one rank per process (the trainer's rule under `vit launch`).
 */
import { type Tensor, checkpointWith } from "@vit/tensor";
import { backwardAsync, recordAsync } from "../autograd-async.js";
import type { ModelParallelRng } from "./random.js";

export function checkpointAsync(
  fn: (...xs: Tensor[]) => Promise<Tensor>,
  streams: ModelParallelRng[],
  ...inputs: Tensor[]
): Promise<Tensor> {
  return checkpointWith(fn, inputs, {
    streams,
    record: (out, backward) =>
      recordAsync(out, { name: "checkpoint", inputs, backwardAsync: async (g) => backward(g) }),
    backprop: (out, g) => backwardAsync([out], [g]),
  });
}
