/**
 * The CLI's user-facing options: every verb's --help has examples, `train --print-config` prints the resolved
 * config (no GPU, no files), `train --dry-run` prints the run summary, takes one step and leaves nothing
 * behind, and `model --list` knows timm's names.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countParameters } from "@vit/model";
import { loadConfig, resolvedConfig, vitConfigOf } from "@vit/trainer";
import { describe, expect, it } from "vitest";
import { vit } from "./helpers.js";

const CONFIG = `
name: opts
trainer: { max_steps: 8, log_every_n_steps: 4, seed: 3 }
model:
  img_h: 16
  img_w: 16
  num_channels: 3
  patch_dim: 4
  hidden_size: 32
  ffn_hidden_size: 64
  num_attention_heads: 2
  num_layers: 2
  num_classes: 5
  micro_batch_size: 16
  optim: { name: adamw, lr: 0.003 }
  data: { dataset: synthetic, synthetic_size: 600 }
exp_manager: { exp_dir: runs, name: opts }
`;

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), "vit-opts-"));
  writeFileSync(join(dir, "opts.yaml"), CONFIG);
  return dir;
}

describe("vit options", () => {
  it("every verb's --help ends with examples of that verb", async () => {
    const dir = workdir();
    const verbs = ["info", "train", "eval", "predict", "finetune", "convert", "launch", "model"];
    const helps = await Promise.all(verbs.map((v) => vit([v, "--help"], dir)));
    verbs.forEach((verb, i) => {
      const h = helps[i]!;
      expect(h.code, verb).toBe(0);
      const examples = h.stdout.split("\nExamples:\n")[1];
      expect(examples, `${verb} --help has an Examples section`).toBeDefined();
      const lines = examples!.split("\n").filter((l) => l.startsWith("  $ "));
      expect(lines.length, verb).toBeGreaterThanOrEqual(2);
      for (const l of lines) expect(l).toMatch(new RegExp(`^  \\$ vit ${verb}\\b`));
    });
  });

  it("train --print-config prints the resolved config after overrides and exits without a run folder", async () => {
    const dir = workdir();
    const r = await vit(
      ["train", "-c", "opts.yaml", "model.num_layers=3", "trainer.max_steps=20", "--print-config"],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    writeFileSync(join(dir, "printed.yaml"), r.stdout);
    const printed = loadConfig(join(dir, "printed.yaml"));
    const expected = loadConfig(join(dir, "opts.yaml"), ["model.num_layers=3", "trainer.max_steps=20"]);
    expect(printed).toEqual(resolvedConfig(expected));
    // Resolved: overrides applied, defaults and the style's keys spelled out.
    expect(printed.model).toMatchObject({
      num_layers: 3,
      hidden_size: 32,
      class_token_length: 8,
      layernorm_epsilon: 1e-5,
    });
    expect(printed.trainer.max_steps).toBe(20);
    expect(printed.model.optim.betas).toEqual([0.9, 0.999]);
    expect(readdirSync(dir).sort()).toEqual(["opts.yaml", "printed.yaml"]);
  });

  it("train --dry-run: the run summary, one step, one test batch, and no files left", async () => {
    const dir = workdir();
    const r = await vit(["train", "-c", "opts.yaml", "--dry-run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(out).toMatchObject({ dry_run: true, steps: 1, eval_images: 256 });
    // ln 5 at step 1: a fresh head scores the 5 classes alike.
    expect(out.loss).toBeCloseTo(Math.log(5), 2);
    const params = countParameters(vitConfigOf(loadConfig(join(dir, "opts.yaml")).model)).total;
    const lines = r.stderr.split("\n");
    const line = (key: string) => lines.find((l) => l.startsWith(`${key} `)) ?? "";
    expect(line("run")).toMatch(/^run +opts → (.*vit-dry-run-[^/]+)\/opts$/);
    expect(line("model")).toBe(
      `model  ${(params / 1e3).toFixed(1)}K params, 2 layers × 32 (2 heads), patch 4, 5 classes`,
    );
    expect(line("data")).toBe("data   synthetic at 16×16×3: 600 train / 600 test images, batch 16");
    expect(line("steps")).toBe("steps  8 steps (0.22 epochs of 37), adamw lr 0.003 Constant");
    expect(line("device")).toMatch(/^device .+ \((vulkan|metal|d3d12|[a-z0-9]+)\)$/i);
    expect(line("setup")).toBe("setup  fp32, attention naive, 1 device");
    // Nothing kept: not the temporary run folder, not a run folder where the config points.
    const tmpRun = line("run").match(/→ (.*)\/opts$/)![1]!;
    expect(existsSync(tmpRun)).toBe(false);
    expect(existsSync(join(dir, "runs"))).toBe(false);
    expect(readdirSync(dir)).toEqual(["opts.yaml"]);
  });

  it("model --list includes timm's names with timm's parameter counts", async () => {
    const r = await vit(["model", "--list", "--json"], tmpdir());
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ name: string; params: number }>;
    const byName = Object.fromEntries(rows.map((x) => [x.name, x.params]));
    // torchvision's vit_b_16 / vit_l_16 / vit_h_14 (at 224) have these many parameters.
    expect(byName.vit_base_patch16_224).toBe(86_567_656);
    expect(byName.vit_large_patch16_224).toBe(304_326_632);
    expect(byName.vit_huge_patch14_224).toBe(632_045_800);
    expect(byName["B/16"]).toBeDefined();
  });
});
