import {
  type StateDict,
  type ViTConfig,
  type VisionTransformer,
  type WeightFormat,
  type HfConfigResult,
  detectFormat,
  fromHfConfig,
  gridSize,
  importWeights,
  parseViTConfig,
  resamplePosEmbed,
} from "@vit/model";
/**
 * Loading pretrained weights into a (possibly differently shaped) model for fine-tuning: a vit checkpoint
 * or a timm / Hugging Face / NeMo safetensors file. The source config is read from the checkpoint, or
 * inferred from tensor shapes for foreign files; position embeddings are resampled to the new grid
 * (NeMo: bilinear, timm: bicubic), prefix tokens kept; the head is replaced (NeMo's fine-tuning head is a
 * fresh zero-initialised Linear) unless `keepHead` and the class counts match.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type HostTensor, loadSafetensors, readSafetensorsHeader, toFloat32Array } from "@vit/nn";
import { VitError } from "@vit/tensor";
import { vitConfigOf } from "./build.js";
import type { TrainConfig } from "./config/schema.js";

/** Pretrained weights that do not fit the fine-tuning config. */
export class PretrainedError extends VitError {}

export interface LoadPretrainedOptions {
  mode?: "bilinear" | "bicubic";
  keepHead?: boolean;
}

function find(sd: StateDict, ...suffixes: string[]): [string, HostTensor] | null {
  for (const s of suffixes) {
    const k = Object.keys(sd).find((key) => key === s || key.endsWith(`.${s}`));
    if (k) return [k, sd[k]!];
  }
  return null;
}

/** The source model's config: target config with the shapes the file actually has. */
export function inferSourceConfig(sd: StateDict, format: WeightFormat, target: ViTConfig): ViTConfig {
  const cls = find(sd, "cls_token", "embeddings.cls_token");
  const pos = find(sd, "pos_embed", "embeddings.position_embeddings", "position_embeddings.weight");
  if (!cls || !pos)
    throw new PretrainedError(`cannot find the class token / position embedding in the ${format} weights.`);
  const T = cls[1].shape[cls[1].shape.length - 2]!;
  const D = cls[1].shape[cls[1].shape.length - 1]!;
  const S = pos[1].shape[pos[1].shape.length - 2]!;
  const side = Math.round(Math.sqrt(S - T));
  if (side * side !== S - T)
    throw new PretrainedError(`position embedding has ${S - T} grid tokens: not a square grid.`);
  const head = find(sd, "head.weight", "classifier.weight", "head.dense_out.weight");
  const preLogits = find(sd, "pre_logits.fc.weight", "head.dense_in.weight");
  const layers = new Set(
    Object.keys(sd)
      .map((k) => k.match(/(?:blocks|layer|layers)\.(\d+)\./)?.[1])
      .filter((x): x is string => !!x),
  ).size;
  if (D !== target.hidden_size || layers !== target.num_layers) {
    throw new PretrainedError(
      `the pretrained weights have hidden size ${D} and ${layers} layers; the config asks for ${target.hidden_size} and ` +
        `${target.num_layers}. Use the matching preset (e.g. model.preset=B/16).`,
    );
  }
  return parseViTConfig({
    ...target,
    class_token_length: T,
    img_h: side * target.patch_dim,
    img_w: side * target.patch_dim,
    num_classes: head ? head[1].shape[0]! : target.num_classes,
    head_type: preLogits ? "mlp_tanh" : "linear",
    encoder_seq_length: S,
    max_position_embeddings: S,
  });
}

/**
 * The Hugging Face config.json in the folder of `weightsPath` (where `vit convert --to hf` and the Hub put
 * it), or null when there is none.
 */
export function readHfConfigBeside(weightsPath: string): (HfConfigResult & { path: string }) | null {
  const path = join(dirname(weightsPath), "config.json");
  if (!existsSync(path)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new PretrainedError(`${path} is not valid JSON (${(e as Error).message}); fix or remove it.`);
  }
  return { ...fromHfConfig(json, path), path };
}

/**
 * Reads a checkpoint or foreign file into our names plus the config it was saved with. Hugging Face weights
 * take their config from the config.json beside them when there is one (that is where layernorm_epsilon,
 * the activation and the labels are), else it is inferred from the tensor shapes and `target`.
 */
export async function readPretrained(
  path: string,
  target: ViTConfig,
): Promise<{ sd: StateDict; config: ViTConfig; format: WeightFormat; classes?: string[] }> {
  const header = await readSafetensorsHeader(path);
  const raw = await loadSafetensors(path);
  if (header.metadata?.vit) {
    const meta = JSON.parse(header.metadata.vit) as { config: TrainConfig };
    const sd: StateDict = {};
    for (const [k, v] of Object.entries(raw)) if (k.startsWith("model.")) sd[k.slice(6)] = v;
    return { sd, config: vitConfigOf(meta.config.model), format: "vit" };
  }
  const format = detectFormat(raw);
  const hf = format === "hf" ? readHfConfigBeside(path) : null;
  // The shapes still decide what the tensors hold (grid, class tokens, head), checked against config.json.
  const config = inferSourceConfig(raw, format, hf?.config ?? target);
  if (hf && (config.hidden_size !== target.hidden_size || config.num_layers !== target.num_layers)) {
    throw new PretrainedError(
      `${hf.path} describes hidden size ${config.hidden_size} and ${config.num_layers} layers; the config asks for ` +
        `${target.hidden_size} and ${target.num_layers}. Use the matching preset (e.g. model.preset=vit_base_patch16_224).`,
    );
  }
  return { sd: importWeights(raw, config, format), config, format, ...(hf?.classes ? { classes: hf.classes } : {}) };
}

/** Loads pretrained weights into `model`, adapting resolution and head. Returns what was done. */
export async function loadPretrained(
  model: VisionTransformer,
  path: string,
  opts: LoadPretrainedOptions = {},
): Promise<string[]> {
  const target = model.config;
  const { sd, config: src, format } = await readPretrained(path, target);
  const notes = [`loaded ${format} weights from ${path}`];
  // Known only from a checkpoint or a config.json; they do not show in the shapes.
  for (const k of ["layernorm_epsilon", "activation", "qkv_bias"] as const) {
    if (src[k] !== target[k]) {
      notes.push(`note: the weights were trained with ${k} ${src[k]}, this model uses ${target[k]} (set model.${k}=${src[k]} to match)`);
    }
  }
  if (src.class_token_length !== target.class_token_length) {
    throw new PretrainedError(
      `the pretrained model has ${src.class_token_length} class token(s), the config ${target.class_token_length}; set model.class_token_length=${src.class_token_length}.`,
    );
  }
  const [oh, ow] = gridSize(src);
  const [nh, nw] = gridSize(target);
  if (oh !== nh || ow !== nw) {
    const pe = sd.pos_embed!;
    sd.pos_embed = resamplePosEmbed(
      { dtype: "F32", shape: pe.shape, data: toFloat32Array(pe) },
      {
        numPrefixTokens: target.class_token_length,
        oldGrid: [oh, ow],
        newGrid: [nh, nw],
        mode: opts.mode ?? (target.style === "nemo" ? "bilinear" : "bicubic"),
      },
    );
    notes.push(
      `resampled position embeddings ${oh}×${ow} → ${nh}×${nw} (${opts.mode ?? (target.style === "nemo" ? "bilinear" : "bicubic")})`,
    );
  }
  const keepHead =
    opts.keepHead && src.num_classes === target.num_classes && src.head_type === target.head_type;
  if (!keepHead) {
    for (const k of Object.keys(sd)) if (k.startsWith("head.") || k.startsWith("pre_logits.")) delete sd[k];
    notes.push(`new ${target.head_type} head for ${target.num_classes} classes`);
  }
  const { missing } = model.loadStateDict(sd, false);
  const unexpectedMissing = missing.filter((k) => !k.startsWith("head.") && !k.startsWith("pre_logits."));
  if (unexpectedMissing.length)
    throw new PretrainedError(`the pretrained weights lack ${unexpectedMissing.join(", ")}.`);
  return notes;
}
