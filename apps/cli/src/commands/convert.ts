/** `vit convert IN OUT --to timm|hf|nemo|vit [--preset P key=value...]`: rename weights between formats. */
import { loadSafetensors, saveSafetensors } from "@vit/nn";
import { type WeightFormat, detectFormat, exportWeights, getPreset, importWeights } from "@vit/model";
import { applyOverrides, inferSourceConfig, readCheckpointMeta, vitConfigOf } from "@vit/trainer";
import type { TrainConfig } from "@vit/trainer";
import { readSafetensorsHeader } from "@vit/nn";
import { UsageError } from "../errors.js";

export async function convertCommand(input: string, output: string, overrides: string[], opts: { to: string; preset?: string }): Promise<void> {
  const to = opts.to as WeightFormat;
  if (!["timm", "hf", "nemo", "vit"].includes(to)) {
    throw new UsageError(`vit convert: unknown weight format --to ${opts.to}`, { hint: "pass --to timm, hf, nemo or vit" });
  }
  const header = await readSafetensorsHeader(input);
  const raw = await loadSafetensors(input);
  let ours: Record<string, (typeof raw)[string]>;
  let config;
  if (header.metadata?.vit) {
    const meta = await readCheckpointMeta(input);
    config = vitConfigOf((meta.config as TrainConfig).model);
    ours = Object.fromEntries(Object.entries(raw).filter(([k]) => k.startsWith("model.")).map(([k, v]) => [k.slice(6), v]));
  } else {
    if (!opts.preset) {
      throw new UsageError(`vit convert: ${input} holds foreign weights, whose architecture vit cannot tell`, {
        hint: "pass --preset (e.g. --preset B/16; `vit model --list` lists them)",
      });
    }
    const format = detectFormat(raw);
    const target = getPreset(opts.preset, applyOverrides({}, overrides) as never);
    config = inferSourceConfig(raw, format, target);
    ours = importWeights(raw, config, format);
  }
  const out = to === "vit" ? ours : exportWeights(ours, config, to);
  await saveSafetensors(output, out, { format: to, converted_by: "vit convert" });
  console.log(`wrote ${Object.keys(out).length} tensors in ${to} names to ${output}`);
}
