/** Rebuilds the model a vit checkpoint was trained with and loads its weights. */
import { VisionTransformer } from "@vit/model";
import type { Device } from "@vit/tensor";
import { type CheckpointMeta, type TrainConfig, attentionFnOf, loadCheckpoint, vitConfigOf } from "@vit/trainer";

export async function restoreModel(device: Device, path: string): Promise<{ model: VisionTransformer; meta: CheckpointMeta; cfg: TrainConfig }> {
  const ck = await loadCheckpoint(path);
  const cfg = ck.meta.config as TrainConfig;
  const model = new VisionTransformer(device, vitConfigOf(cfg.model), { attentionFn: attentionFnOf(cfg.model) });
  model.loadStateDict(ck.model);
  model.eval();
  return { model, meta: ck.meta, cfg };
}
