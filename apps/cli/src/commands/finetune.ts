/**
 * `vit finetune --from C|timm.safetensors|hf.safetensors --config FILE`: train from pretrained weights
 * with a new head and position embeddings resampled to the config's resolution.
 */
import { trainCommand } from "./train.js";

export async function finetuneCommand(overrides: string[], opts: { from: string; config: string; json?: boolean }): Promise<void> {
  await trainCommand([...overrides, `model.restore_from_path=${JSON.stringify(opts.from)}`], { config: opts.config, ...(opts.json ? { json: true } : {}) });
}
