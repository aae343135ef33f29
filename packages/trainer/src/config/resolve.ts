import { sequenceLength } from "@vit/model";
/**
 * The resolved config: what a run actually uses, after the YAML file, the `key=value` overrides, the
 * schema's defaults and the model preset. `vit train --print-config` prints it and every run writes it
 * to `hparams.yaml` beside its metrics (as NeMo does); loading that file reproduces the run's config.
 */
import { stringify } from "yaml";
import { vitConfigOf } from "../build.js";
import type { TrainConfig } from "./schema.js";

/** `cfg` with the model's ViT keys spelled out (preset expanded, style defaults filled). */
export function resolvedConfig(cfg: TrainConfig): TrainConfig {
  const { encoder_seq_length, max_position_embeddings, ...vit } = vitConfigOf(cfg.model);
  // The two lengths follow from the image and patch sizes; spelled out, they would turn a later
  // `model.img_h=...` override of this file into an inconsistency error. Kept when set to something else.
  const seq = sequenceLength(vit);
  const lengths = {
    ...(encoder_seq_length !== seq ? { encoder_seq_length } : {}),
    ...(max_position_embeddings !== encoder_seq_length ? { max_position_embeddings } : {}),
  };
  return { ...cfg, model: { ...vit, ...lengths, ...cfg.model } };
}

/** The resolved config as YAML. */
export function configYaml(cfg: TrainConfig): string {
  return stringify(resolvedConfig(cfg));
}
