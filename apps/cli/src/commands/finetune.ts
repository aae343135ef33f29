/**
 * `vit finetune --from C|timm.safetensors|hf.safetensors --config FILE`: train from pretrained weights
 * with a new head and position embeddings resampled to the config's resolution.
 */
import { type TrainOptions, trainCommand } from "./train.js";

export async function finetuneCommand(
  overrides: string[],
  opts: { from: string } & TrainOptions,
): Promise<void> {
  const { from, ...rest } = opts;
  await trainCommand([...overrides, `model.restore_from_path=${JSON.stringify(from)}`], rest);
}
