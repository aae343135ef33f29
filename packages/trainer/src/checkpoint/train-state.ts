/** The training state a checkpoint stores besides the weights: optimizer (and loss scaler) tensors, per rank. */
import type { HostTensor } from "@vit/nn";
import type { Tensor } from "@vit/tensor";
import { CheckpointError } from "./checkpoint.js";

/** `step-N.safetensors` → `step-N.rank-R.safetensors` (a rank's own optimizer shard). */
export function rankShardPath(path: string, rank: number): string {
  return path.replace(/\.safetensors$/, `.rank-${rank}.safetensors`);
}

/**
 * Uploads a checkpoint's optimizer state (`saved`, read from `path`) into this run's state tensors `own`,
 * refusing state of another optimizer, dtype or size. A missing loss scaler (an fp32/bf16 run continued in
 * fp16) is not an error: the scaler starts fresh.
 */
export function loadStateTensors(
  own: Record<string, Tensor>,
  saved: Record<string, HostTensor>,
  path: string,
  log: (msg: string) => void,
): void {
  for (const [k, t] of Object.entries(own)) {
    const h = saved[k];
    if (!h && k.startsWith("loss_scaler.")) {
      log(
        `resume: ${path} has no loss scaler state (not an fp16 run); the scaler starts at its initial scale.`,
      );
      continue;
    }
    if (!h)
      throw new CheckpointError(
        `resume: ${path} lacks optimizer state ${k}; was it saved with another optimizer?`,
        {
          hint: "resume with the model.optim.name it was saved with, or start from its weights with model.restore_from_path",
        },
      );
    // The bytes are uploaded as they are: they must be what saveCheckpoint writes for this tensor.
    const want = t.dtype === "i32" ? "I32" : "F32";
    if (h.dtype !== want || (t.dtype !== "f32" && t.dtype !== "i32")) {
      throw new CheckpointError(
        `resume: optimizer state ${k} in ${path} is ${h.dtype}, but this optimizer keeps it as ${t.dtype} (${want} in a checkpoint). ` +
          "The file was not written by vit's trainer, or is damaged: resume from another checkpoint.",
      );
    }
    if (h.data.length !== t.numel) {
      throw new CheckpointError(
        `resume: optimizer state ${k} in ${path} has ${h.data.length} values, this model's has ${t.numel}`,
        { hint: "resume with the model config the checkpoint was saved with" },
      );
    }
    t.device.upload(t.buffer, h.data);
  }
}
