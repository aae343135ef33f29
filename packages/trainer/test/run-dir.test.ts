/**
 * Run folders (version_N, resume, fork), the metrics history across a resume, and the sweep of temp files
 * left by killed saves. File-system only: no GPU.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInProcessGroups } from "@vit/parallel";
import { describe, expect, it } from "vitest";
import { checkpointPath } from "../src/checkpoint/checkpoint.js";
import {
  type CheckpointMeta,
  type MetricRecord,
  MetricsLogger,
  openRunDir,
  readMetrics,
  saveCheckpoint,
  sweepStaleTempFiles,
} from "../src/index.js";
import { tinyConfig } from "./helpers.js";

const meta = (step: number): CheckpointMeta => ({
  format: "vit-checkpoint/1",
  step,
  epoch: 0,
  optimizerSteps: step,
  rng: { seed: 1, offset: 0 },
  loader: null,
  config: {},
  metrics: {},
});

/** An empty checkpoint (no tensors): openRunDir reads only its step. */
async function fakeCheckpoint(dir: string, step: number): Promise<string> {
  const path = checkpointPath(dir, step);
  await saveCheckpoint(path, {}, {}, meta(step));
  return path;
}

const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!;

describe("run folders", () => {
  it("new runs get version_0, version_1, ...; resume_if_exists uses exp_dir/name itself", async () => {
    const cfg = tinyConfig();
    const base = join(cfg.exp_manager.exp_dir, cfg.exp_manager.name);
    const a = await openRunDir(cfg, null);
    const b = await openRunDir(cfg, null);
    expect([a.runDir, b.runDir]).toEqual([join(base, "version_0"), join(base, "version_1")]);
    expect(existsSync(a.ckptDir)).toBe(true);
    expect(a.history).toBeNull();

    cfg.exp_manager.resume_if_exists = true;
    const c = await openRunDir(cfg, null);
    expect(c).toMatchObject({ runDir: base, resumeFrom: null, history: { dir: base, step: 0 } });
    await fakeCheckpoint(c.ckptDir, 2);
    const last = await fakeCheckpoint(c.ckptDir, 4);
    const d = await openRunDir(cfg, null);
    expect(d).toMatchObject({ runDir: base, resumeFrom: last, history: { dir: base, step: 4 } });
    expect(d.ownCheckpoints).toHaveLength(2);
  });

  it("a resume continues in the checkpoint's folder, or forks when that folder has later checkpoints", async () => {
    const cfg = tinyConfig();
    const run = await openRunDir(cfg, null);
    const s2 = await fakeCheckpoint(run.ckptDir, 2);
    const s4 = await fakeCheckpoint(run.ckptDir, 4);
    const same = await openRunDir(cfg, s4);
    expect(same).toMatchObject({ runDir: run.runDir, resumeFrom: s4, history: { dir: run.runDir, step: 4 } });
    expect(same.ownCheckpoints).toEqual([s2, s4]);
    const fork = await openRunDir(cfg, s2);
    expect(fork.runDir).toBe(join(cfg.exp_manager.exp_dir, cfg.exp_manager.name, "version_1"));
    expect(fork).toMatchObject({ resumeFrom: s2, history: { dir: run.runDir, step: 2 }, ownCheckpoints: [] });
    // A checkpoint outside any run folder: a new folder, no history to continue.
    const loose = join(mkdtempSync(join(tmpdir(), "vit-loose-")), "model.safetensors");
    await saveCheckpoint(loose, {}, {}, meta(3));
    const elsewhere = await openRunDir(cfg, loose);
    expect(elsewhere).toMatchObject({ resumeFrom: loose, history: null });
    expect(elsewhere.runDir).toMatch(/version_2$/);
    await expect(openRunDir(cfg, join(run.ckptDir, "nope.safetensors"))).rejects.toThrow(/does not exist/);
  });

  it("all ranks of a group write into the version folder rank 0 chose", async () => {
    const cfg = tinyConfig();
    const groups = createInProcessGroups(3);
    const dirs = await Promise.all(groups.map((g) => openRunDir(cfg, null, g)));
    expect(new Set(dirs.map((d) => d.runDir))).toEqual(new Set([dirs[0]!.runDir]));
    expect(dirs[0]!.runDir).toMatch(/version_0$/);
  });
});

describe("metrics history", () => {
  const rec = (kind: string, step: number, v: number): MetricRecord => ({
    kind,
    step,
    epoch: 0,
    [kind === "train" ? "loss" : "val_loss"]: v,
  });

  it("a resume keeps the records up to its step, drops later and torn ones, and never duplicates a step", () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-metrics-"));
    const first = new MetricsLogger(dir);
    for (let s = 1; s <= 7; s++) first.log(rec("train", s, s));
    first.log(rec("val", 4, 0.5));
    // A process killed mid-line after step 7.
    writeFileSync(
      join(dir, "metrics.jsonl"),
      `${readFileSync(join(dir, "metrics.jsonl"), "utf8")}{"kind":"tr`,
    );
    const resumed = new MetricsLogger(dir, { dir, step: 5 });
    expect(resumed.records.map((r) => `${r.kind}${r.step}`)).toEqual([
      "train1",
      "train2",
      "train3",
      "train4",
      "train5",
      "val4",
    ]);
    resumed.log(rec("train", 6, 60));
    resumed.log(rec("val", 4, 0.25)); // re-evaluated at the same step: replaces, not duplicates
    const onDisk = readMetrics(dir);
    expect(onDisk).toEqual(resumed.records);
    expect(readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n")).toHaveLength(7);
    expect(onDisk.find((r) => r.kind === "val")!.val_loss).toBe(0.25);
    expect(onDisk.find((r) => r.step === 6)!.loss).toBe(60);
    const csv = readFileSync(join(dir, "metrics.csv"), "utf8").trim().split("\n");
    expect(csv[0]).toMatch(/^kind,step,/);
    expect(csv.slice(1).map((l) => l.split(",").slice(0, 2).join(","))).toEqual(
      onDisk.map((r) => `${r.kind},${r.step}`),
    );
  });

  it("a fork copies the history up to its step and leaves the source alone", () => {
    const src = mkdtempSync(join(tmpdir(), "vit-metrics-"));
    const dst = mkdtempSync(join(tmpdir(), "vit-metrics-"));
    const a = new MetricsLogger(src);
    for (let s = 1; s <= 4; s++) a.log(rec("train", s, s));
    const before = readFileSync(join(src, "metrics.jsonl"), "utf8");
    const b = new MetricsLogger(dst, { dir: src, step: 2 });
    b.log(rec("train", 3, 30));
    expect(readMetrics(dst).map((r) => r.loss)).toEqual([1, 2, 30]);
    expect(readFileSync(join(src, "metrics.jsonl"), "utf8")).toBe(before);
  });
});

describe("stale temp files", () => {
  it("removes our temp files whose writer is dead or that predate this process; keeps live writers' and others", () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-sweep-"));
    mkdirSync(dir, { recursive: true });
    const dead = deadPid();
    const names = {
      deadSave: `.step-0000010.safetensors.tmp-${dead}-abc123`,
      deadShard: `.step-0000010.rank-1.safetensors.tmp-${dead}-x9`,
      deadBest: `.best.tmp-${dead}`,
      deadMetrics: `.metrics.jsonl.tmp-${dead}`,
      liveNew: `.step-0000012.safetensors.tmp-${process.pid}-live`,
      liveOld: `.step-0000008.safetensors.tmp-${process.pid}-old`,
      foreign: `.other.safetensors.tmp-${dead}-abc`,
      plain: "step-0000010.safetensors",
    };
    for (const f of Object.values(names)) writeFileSync(join(dir, f), "x");
    const past = (performance.timeOrigin - 60_000) / 1000;
    utimesSync(join(dir, names.liveOld), past, past);
    const removed = sweepStaleTempFiles(dir);
    expect(removed.sort()).toEqual(
      [names.deadSave, names.deadShard, names.deadBest, names.deadMetrics, names.liveOld].sort(),
    );
    for (const f of [names.liveNew, names.foreign, names.plain]) expect(existsSync(join(dir, f))).toBe(true);
  });
});
