/**
 * The tensor-parallel ViT and its checkpoint split rule: the one file of @vit/trainer that names the package
 * providing them, so that moving the model (to @vit/model) changes only the import below.
 */
import type { ViTConfig, ViTOptions } from "@vit/model";
import type { HostTensor } from "@vit/nn";
import {
  type ProcessGroup,
  TensorParallelViT,
  mergeTensorParallelStateDicts,
  splitTensorParallelStateDict,
  tensorParallelSplitOf,
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
  if (opts.checkpointing?.granularity === "selective") {
    throw new ConfigError(
      "model.activations_checkpoint_granularity=selective is not supported with tensor parallelism (the attention core " +
        "runs inside the split layers); use full.",
    );
  }
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

/** The single-device state dict split into the `tp` ranks' shards (rank r's is element r). */
export function splitState(
  sd: Record<string, HostTensor>,
  vit: ViTConfig,
  tp: number,
): Array<Record<string, HostTensor>> {
  return splitTensorParallelStateDict(sd, vit, tp);
}

/** The ranks' shards (in rank order) merged into the single-device state dict. */
export function mergeStates(
  shards: Array<Record<string, HostTensor>>,
  vit: ViTConfig,
): Record<string, HostTensor> {
  return mergeTensorParallelStateDicts(shards, vit);
}

/** Whether a parameter of the single-device model is the same on every rank (not split). */
export function isReplicated(name: string): boolean {
  return tensorParallelSplitOf(name) === "replicated";
}
