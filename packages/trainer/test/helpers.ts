import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TrainConfig, parseConfig } from "../src/index.js";

/** A tiny ViT on a synthetic set: fast enough for many steps in a test. */
export function tinyConfig(over: Record<string, unknown> = {}, trainer: Record<string, unknown> = {}, optim: Record<string, unknown> = {}): TrainConfig {
  const dir = mkdtempSync(join(tmpdir(), "vit-trainer-"));
  return parseConfig({
    name: "t",
    trainer: { max_steps: 6, log_every_n_steps: 1, seed: 7, ...trainer },
    model: {
      style: "nemo",
      img_h: 8,
      img_w: 8,
      num_channels: 1,
      patch_dim: 4,
      hidden_size: 16,
      ffn_hidden_size: 32,
      num_attention_heads: 2,
      num_layers: 2,
      num_classes: 4,
      class_token_length: 2,
      hidden_dropout: 0.1,
      attention_dropout: 0.1,
      head_type: "linear",
      micro_batch_size: 16,
      optim: { name: "adamw", lr: 1e-2, weight_decay: 0.01, ...optim },
      data: { dataset: "synthetic", synthetic_size: 256, num_workers: 0 },
      ...over,
    },
    exp_manager: { exp_dir: dir, name: "run" },
  });
}
