/** `vit model --list | --preset NAME [key=value ...] [--json]`: configs and parameter counts, no GPU. */
import { applyOverrides } from "@vit/trainer";
import { countParameters, getPreset, listPresets, presetDescription, sequenceLength } from "@vit/model";

export function modelCommand(overrides: string[], opts: { list?: boolean; preset?: string; json?: boolean }): void {
  if (opts.list || !opts.preset) {
    const rows = listPresets().map((name) => {
      const c = getPreset(name);
      const n = countParameters(c);
      return { name, description: presetDescription(name), params: n.total, backbone: n.backbone, seq: sequenceLength(c) };
    });
    if (opts.json) console.log(JSON.stringify(rows));
    else {
      console.log("| preset | params (total) | backbone | seq | description |\n|---|---|---|---|---|");
      for (const r of rows) console.log(`| ${r.name} | ${r.params.toLocaleString()} | ${r.backbone.toLocaleString()} | ${r.seq} | ${r.description} |`);
    }
    return;
  }
  const over = applyOverrides({}, overrides);
  const config = getPreset(opts.preset, over as never);
  const count = countParameters(config);
  const out = { preset: opts.preset, config, sequence_length: sequenceLength(config), parameters: count };
  if (opts.json) {
    console.log(JSON.stringify(out));
    return;
  }
  console.log(`preset ${opts.preset}: ${presetDescription(opts.preset as never)}`);
  for (const [k, v] of Object.entries(config)) console.log(`  ${k.padEnd(26)} ${v}`);
  console.log(`sequence length ${out.sequence_length}`);
  console.log(`parameters ${count.total.toLocaleString()} (backbone ${count.backbone.toLocaleString()})`);
  const c = count.components;
  console.log(
    `  patch_embed ${c.patch_embed.toLocaleString()}, class_token ${c.class_token.toLocaleString()}, pos_embed ${c.pos_embed.toLocaleString()}, ` +
      `blocks ${c.blocks.total.toLocaleString()} (${c.blocks.per_layer.toLocaleString()} per layer), final_norm ${c.final_norm.toLocaleString()}, head ${c.head.toLocaleString()}`,
  );
}
