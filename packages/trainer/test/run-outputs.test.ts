/**
 * What a run leaves beside its metrics and reports while it runs: hparams.yaml (the resolved config, which
 * loads back to the same run), evaluation progress events, and a dry run that trains one step, scores one
 * test batch and saves nothing.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Device } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Trainer, loadConfig, resolvedConfig, vitConfigOf } from "../src/index.js";
import { tinyConfig } from "./helpers.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

describe("run outputs", () => {
  it("hparams.yaml holds the resolved config; loading it gives the same config back", async () => {
    const cfg = tinyConfig(
      { preset: "tiny", img_h: 8, img_w: 8, patch_dim: 4, num_channels: 1 },
      { max_steps: 2 },
    );
    const t = new Trainer(dev, cfg);
    await t.fit(); // the run folder (a new version_N) is chosen when fit() starts
    const path = join(t.runDir, "hparams.yaml");
    expect(existsSync(path)).toBe(true);
    const back = loadConfig(path);
    expect(back).toEqual(resolvedConfig(cfg));
    expect(vitConfigOf(back.model)).toEqual(vitConfigOf(cfg.model));
    // The preset's keys are spelled out (hidden 128, 4 layers from "tiny"); the run's own keys win.
    expect(back.model).toMatchObject({
      preset: "tiny",
      hidden_size: 16,
      num_layers: 2,
      ffn_hidden_size: 32,
      img_h: 8,
    });
    expect(back.trainer.max_steps).toBe(2);
    // And it still takes overrides: the derived sequence length is not pinned.
    expect(vitConfigOf(loadConfig(path, ["model.img_h=12", "model.img_w=12"]).model).encoder_seq_length).toBe(
      9 + 2,
    );
    t.dispose();
  });

  it("evaluation reports progress after every batch", async () => {
    const cfg = tinyConfig(
      { data: { dataset: "synthetic", synthetic_size: 600, num_workers: 0 } },
      { max_steps: 2 },
    );
    const calls: Array<[number, number]> = [];
    const t = new Trainer(dev, cfg, { onEvalBatch: (d, n) => calls.push([d, n]) });
    await t.fit();
    // 600 test images in batches of max(16, 256): 3 batches, reported once the final evaluation runs.
    expect(calls).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    t.dispose();
  });

  it("a dry run takes one step and scores one test batch; no checkpoint, plot or result", async () => {
    const cfg = tinyConfig(
      { data: { dataset: "synthetic", synthetic_size: 600, num_workers: 0 } },
      { max_steps: 5 },
    );
    const calls: Array<[number, number]> = [];
    const t = new Trainer(dev, cfg, { onEvalBatch: (d, n) => calls.push([d, n]) });
    const r = await t.fit({ dryRun: true });
    expect(r.steps).toBe(1);
    expect(r.checkpoint).toBeNull();
    expect(r.final?.images).toBe(256);
    expect(calls).toEqual([[1, 1]]);
    expect(readdirSync(t.ckptDir)).toEqual([]);
    expect(existsSync(join(t.runDir, "curves.svg"))).toBe(false);
    expect(existsSync(join(t.runDir, "result.json"))).toBe(false);
    t.dispose();
  });
});
