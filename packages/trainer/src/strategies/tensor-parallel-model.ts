/**
 * The tensor-parallel ViT and its checkpoint split rule: the one file of @vit/trainer that names the package
 * providing them, so that moving the model (to @vit/model) changes only the import below.
 */
import { TensorParallelViT, type ViTConfig, type ViTOptions } from "@vit/model";
import type { HostTensor } from "@vit/nn";
import {
  type ProcessGroup,
  mergeTensorParallelStateDicts,
  splitTensorParallelStateDict,
  tensorParallelLayout,
} from "@vit/parallel";
import type { Device } from "@vit/tensor";
import { ConfigError } from "../config/load.js";

export { TensorParallelViT };

/** This rank's TensorParallelViT of `group`; refuses a layout that cannot split evenly, with the fix. */
export function buildTensorParallelViT(
  device: Device,
  vit: ViTConfig,
  tp: number,
  group: ProcessGroup | undefined,
  opts: Pick<ViTOptions, "attentionFn" | "checkpointing">,
): TensorParallelViT {
  if (!group)
    throw new ConfigError(
      "model.tensor_model_parallel_size > 1 needs a process group (run under `vit launch`).",
    );
  // (checkpoint granularity 'selective' is refused by TensorParallelViT itself, the one place.)
  for (const [what, n] of [
    ["num_attention_heads", vit.num_attention_heads],
    ["ffn_hidden_size", vit.ffn_hidden_size],
  ] as const) {
    if (n % tp) {
      throw new ConfigError(
        `model.${what}=${n} is not divisible by tensor_model_parallel_size=${tp}: every rank needs an equal share.`,
      );
    }
  }
  return new TensorParallelViT(device, vit, group, opts);
}

/** The single-device state dict split into the `tp` ranks' shards (rank r's is element r), by the split
 * the layers of `model` declare. */
export function splitState(
  sd: Record<string, HostTensor>,
  model: TensorParallelViT,
  tp: number,
): Array<Record<string, HostTensor>> {
  return splitTensorParallelStateDict(sd, model, tp);
}

/** The ranks' shards (in rank order) merged into the single-device state dict. */
export function mergeStates(
  shards: Array<Record<string, HostTensor>>,
  model: TensorParallelViT,
): Record<string, HostTensor> {
  return mergeTensorParallelStateDicts(shards, model);
}

/** The parameters of `model` that are the same on every rank (not split by any layer). */
export function replicatedOf(model: TensorParallelViT): (name: string) => boolean {
  const layout = tensorParallelLayout(model);
  return (name) => !layout.has(name);
}
