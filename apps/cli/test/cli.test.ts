/**
 * End-to-end: the built `vit` binary trains a tiny model on a synthetic set, evaluates and predicts
 * from its checkpoint, converts it to timm names and fine-tunes from the converted file at a new
 * resolution. Also: `vit model`, `vit info --json`, and clean errors for bad input.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { encodeImage } from "@vit/data";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const BIN = new URL("../dist/main.js", import.meta.url).pathname;

async function vit(args: string[], cwd: string): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { cwd, maxBuffer: 1 << 24 });
    return { ...r, code: 0 };
  } catch (e) {
    const x = e as { stdout: string; stderr: string; code: number };
    return { stdout: x.stdout, stderr: x.stderr, code: x.code };
  }
}

const lastJson = (s: string) => JSON.parse(s.trim().split("\n").pop()!);

const CONFIG = `
name: cli-smoke
trainer: { max_steps: 8, log_every_n_steps: 4, seed: 3 }
model:
  style: nemo
  img_h: 16
  img_w: 16
  num_channels: 3
  patch_dim: 4
  hidden_size: 32
  ffn_hidden_size: 64
  num_attention_heads: 2
  num_layers: 2
  num_classes: 5
  class_token_length: 2
  hidden_dropout: 0.0
  head_type: linear
  micro_batch_size: 16
  optim: { name: adamw, lr: 0.003, weight_decay: 0.01, sched: { name: CosineAnnealing, warmup_steps: 2 } }
  data: { dataset: synthetic, synthetic_size: 128 }
exp_manager: { exp_dir: runs, name: smoke }
`;

describe("vit CLI", () => {
  it("train → eval → predict → convert → finetune", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-cli-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    const tr = await vit(["train", "--config", "smoke.yaml", "--json"], dir);
    expect(tr.code, tr.stderr).toBe(0);
    const t = lastJson(tr.stdout);
    for (const k of ["top1", "top5", "loss", "images_per_second", "wall_seconds", "checkpoint"]) expect(t).toHaveProperty(k);
    expect(t.top5).toBeGreaterThanOrEqual(t.top1);

    const ev = await vit(["eval", "--checkpoint", t.checkpoint, "--json"], dir);
    expect(ev.code, ev.stderr).toBe(0);
    const e = lastJson(ev.stdout);
    // Same weights, same test split: the same accuracy as the trainer's final evaluation.
    expect(e.top1).toBeCloseTo(t.top1, 6);
    expect(e.loss).toBeCloseTo(t.loss, 4);

    const img = join(dir, "x.png");
    const px = new Uint8Array(20 * 12 * 3).map((_, i) => (i * 37) % 256);
    writeFileSync(img, await encodeImage({ data: px, width: 20, height: 12, channels: 3 }, "png"));
    const pr = await vit(["predict", "--checkpoint", t.checkpoint, "--json", img], dir);
    expect(pr.code, pr.stderr).toBe(0);
    const p = lastJson(pr.stdout);
    expect(p[0].top5).toHaveLength(5);
    const total = p[0].top5.reduce((a: number, x: { probability: number }) => a + x.probability, 0);
    expect(total).toBeLessThanOrEqual(1.0001);

    const cv = await vit(["convert", t.checkpoint, join(dir, "timm.safetensors"), "--to", "timm"], dir);
    expect(cv.code, cv.stderr).toBe(0);
    const ft = await vit(
      ["finetune", "--from", join(dir, "timm.safetensors"), "--config", "smoke.yaml", "model.img_h=24", "model.img_w=24", "model.num_classes=3", "exp_manager.name=ft", "trainer.max_steps=2", "--json"],
      dir,
    );
    expect(ft.code, ft.stderr).toBe(0);
    expect(ft.stderr).toMatch(/resampled position embeddings 4×4 → 6×6 \(bilinear\)/);
    expect(ft.stderr).toMatch(/new linear head for 3 classes/);
  });

  it("launch: 2 data-parallel ranks with the distributed optimizer train, save per-rank shards and resume", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-cli-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    const args = ["--config", "smoke.yaml", "trainer.devices=2", "trainer.max_steps=4", "model.optim.name=distributed_fused_adam", "--json"];
    const r = await vit(["launch", "--nproc", "2", "--", "train", ...args], dir);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    expect(out.steps).toBe(4);
    expect(existsSync(out.checkpoint.replace(/\.safetensors$/, ".rank-1.safetensors"))).toBe(true);
    const resumed = await vit(["launch", "--nproc", "2", "--", "train", ...args.slice(0, -1), "trainer.max_steps=6", "--resume", out.checkpoint, "--json"], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(lastJson(resumed.stdout).steps).toBe(6);
    // A rank count that does not match the config is refused with the fix.
    const bad = await vit(["launch", "--nproc", "2", "--", "train", "--config", "smoke.yaml", "trainer.max_steps=2"], dir);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/trainer.devices × trainer.num_nodes = 1, but 2 rank\(s\) are running/);
  });

  it("model --preset prints counts without a GPU; bad input gives one clear line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-cli-"));
    const m = await vit(["model", "--preset", "B/16", "--json"], dir);
    expect(lastJson(m.stdout).parameters.backbone).toBe(85_809_408);
    const bad = await vit(["train", "--config", "nope.yaml"], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^vit: ConfigError: cannot read config nope\.yaml/);
    expect(bad.stderr).not.toMatch(/at .*\.js:\d+/);
    const badKey = await vit(["model", "--preset", "B/16", "hidden_sise=3"], dir);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/hidden_sise/);
  });

  it("info --json reports the adapter", async () => {
    const r = await vit(["info", "--json"], tmpdir());
    const j = lastJson(r.stdout);
    expect(j.adapter.backend).toBeTruthy();
    expect(j.features).toHaveProperty("shader-f16");
  });
});
