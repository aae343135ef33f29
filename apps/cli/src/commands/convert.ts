/**
 * `vit convert IN OUT --to timm|hf|nemo|vit [--preset P key=value...]`: rename weights between formats.
 * `--to hf` also writes Hugging Face's config.json beside OUT; Hugging Face input takes its architecture from
 * the config.json beside IN when there is one. `--to vit` writes a weights-only vit file (the config in
 * its metadata, no optimizer state) that eval, predict and finetune --from accept.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import {
  type StateDict,
  type ViTConfig,
  type WeightFormat,
  detectFormat,
  exportWeights,
  getPreset,
  toHfConfig,
} from "@vit/model";
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from "@vit/nn";
import {
  type TrainConfig,
  applyOverrides,
  parseConfig,
  readCheckpointMeta,
  readHfConfigBeside,
  readPretrained,
  vitConfigOf,
} from "@vit/trainer";
import { UsageError } from "../errors.js";

/** The metadata format of a weights-only file written by `vit convert --to vit`. */
export const WEIGHTS_FORMAT = "vit-weights/1";

/**
 * The config stored with foreign weights converted to a vit file. There is no training run behind them:
 * the data set is an image folder to be given with --data, normalised with mean = std = 0.5 as timm's and
 * Hugging Face's ViT weights (google/vit-*, augreg) are; the optimizer section is the schema's minimum.
 */
function foreignTrainConfig(name: string, config: ViTConfig): TrainConfig {
  const channels = config.num_channels;
  return parseConfig({
    name,
    // A config must bound its run; these weights were not trained by vit, so there is no run to describe.
    trainer: { max_steps: 1 },
    model: {
      ...config,
      optim: { name: "adamw", lr: 1e-3 },
      data: {
        dataset: "image_folder",
        train: { mean: new Array(channels).fill(0.5), std: new Array(channels).fill(0.5) },
      },
    },
  });
}

export async function convertCommand(
  input: string,
  output: string,
  overrides: string[],
  opts: { to: string; preset?: string },
): Promise<void> {
  const to = opts.to as WeightFormat;
  if (!["timm", "hf", "nemo", "vit"].includes(to))
    throw new UsageError(`vit convert: unknown weight format --to ${opts.to}`, { hint: "pass --to timm, hf, nemo or vit" });
  const header = await readSafetensorsHeader(input);
  let ours: StateDict;
  let config: ViTConfig;
  let trainCfg: TrainConfig;
  let classes: string[] | undefined;
  if (header.metadata?.vit) {
    const meta = await readCheckpointMeta(input);
    trainCfg = meta.config as TrainConfig;
    config = vitConfigOf(trainCfg.model);
    classes = meta.classes;
    const raw = await loadSafetensors(input);
    ours = Object.fromEntries(
      Object.entries(raw)
        .filter(([k]) => k.startsWith("model."))
        .map(([k, v]) => [k.slice(6), v]),
    );
  } else {
    const hf = detectFormat(Object.fromEntries(header.tensors)) === "hf" ? readHfConfigBeside(input) : null;
    if (!opts.preset && !hf) {
      throw new UsageError(
        "convert: foreign weights need --preset (e.g. --preset vit_base_patch16_224) to know the architecture" +
          " (Hugging Face weights: or a config.json beside them).",
      );
    }
    const target = opts.preset ? getPreset(opts.preset, applyOverrides({}, overrides) as never) : hf!.config;
    const read = await readPretrained(input, target);
    ours = read.sd;
    config = read.config;
    classes = read.classes;
    trainCfg = foreignTrainConfig(basename(input).replace(/\.safetensors$/, ""), config);
  }
  // HF's config first: a layout HF cannot hold, or another model's config.json, stops before any file is written.
  const hfConfig =
    to === "hf"
      ? {
          path: join(dirname(output), "config.json"),
          text: `${JSON.stringify(toHfConfig(config, classes), null, 2)}\n`,
        }
      : null;
  // One folder holds one HF model: never replace the config.json of another.
  if (hfConfig && existsSync(hfConfig.path) && readFileSync(hfConfig.path, "utf8") !== hfConfig.text) {
    throw new UsageError(
      `convert: ${hfConfig.path} exists and describes another model; write the weights into their own folder.`,
    );
  }
  let count: number;
  if (to === "vit") {
    const tensors = Object.fromEntries(Object.entries(ours).map(([k, v]) => [`model.${k}`, v]));
    const meta = {
      format: WEIGHTS_FORMAT,
      // Step 0: weights with no training history behind them in this run (readCheckpointMeta needs a step).
      step: 0,
      config: trainCfg,
      ...(classes ? { classes } : {}),
      converted_from: input,
    };
    await saveSafetensors(output, tensors, { vit: JSON.stringify(meta) });
    count = Object.keys(tensors).length;
  } else {
    const out = exportWeights(ours, config, to);
    await saveSafetensors(output, out, { format: to, converted_by: "vit convert" });
    count = Object.keys(out).length;
  }
  console.log(`wrote ${count} tensors in ${to} names to ${output}`);
  if (hfConfig) {
    writeFileSync(hfConfig.path, hfConfig.text);
    console.log(`wrote ${hfConfig.path} (ViTForImageClassification config)`);
  }
}
