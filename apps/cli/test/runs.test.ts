/**
 * A run never loses another run's work: each `vit train` gets its own version folder, pruning deletes
 * only the run's own checkpoints, a resume continues (or forks) the metrics history without duplicates,
 * and temporary files of killed saves are swept at the next start.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint } from "@vit/trainer";
import { describe, expect, it } from "vitest";
import { CONFIG, lastJson, vit } from "./helpers.js";

const jsonl = (runDir: string) =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
const csvRows = (runDir: string) =>
  readFileSync(join(runDir, "metrics.csv"), "utf8").trim().split("\n").slice(1);
/** Number of points of the train-loss curve (the first polyline) in curves.svg. */
const svgTrainPoints = (runDir: string) =>
  /points="([^"]*)"/.exec(readFileSync(join(runDir, "curves.svg"), "utf8"))![1]!.split(" ").length;
const trainSteps = (runDir: string) =>
  jsonl(runDir)
    .filter((r) => r.kind === "train")
    .map((r) => r.step);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe("run folders", () => {
  const dir = mkdtempSync(join(tmpdir(), "vit-runs-"));
  writeFileSync(join(dir, "smoke.yaml"), CONFIG);
  const base = ["train", "--config", "smoke.yaml", "exp_manager.name=r", "trainer.log_every_n_steps=1"];
  const every2 = ["exp_manager.checkpoint.every_n_steps=2", "exp_manager.checkpoint.keep_last=2"];
  let first: { run_dir: string; checkpoint: string };
  let firstFiles: Map<string, number>;
  const ckptFiles = (runDir: string) =>
    new Map(
      readdirSync(join(runDir, "checkpoints")).map((f) => [
        f,
        statSync(join(runDir, "checkpoints", f)).mtimeMs,
      ]),
    );

  it("a second, shorter run under the same name keeps its own checkpoints and the first run's", async () => {
    const a = await vit([...base, ...every2, "trainer.max_steps=8", "--json"], dir);
    expect(a.code, a.stderr).toBe(0);
    first = lastJson(a.stdout);
    expect(first.run_dir).toBe(join(dir, "runs", "r", "version_0"));
    expect(a.stderr).toContain(`run folder ${first.run_dir}`);
    firstFiles = ckptFiles(first.run_dir);
    expect([...firstFiles.keys()].sort()).toEqual([
      "best.safetensors",
      "step-0000006.safetensors",
      "step-0000008.safetensors",
    ]);

    // Stopping at step 3 (as a time budget does), below the first run's steps: this used to prune its own
    // fresh step-3 checkpoint and then crash copying it to best.safetensors.
    const b = await vit([...base, ...every2, "trainer.max_steps=3"], dir);
    expect(b.code, b.stderr).toBe(0);
    const second = join(dir, "runs", "r", "version_1");
    expect(b.stderr).toContain(`run folder ${second}`);
    expect(b.stdout).toContain(`run folder ${second}`);
    expect(readdirSync(join(second, "checkpoints")).sort()).toEqual([
      "best.safetensors",
      "step-0000002.safetensors",
      "step-0000003.safetensors",
    ]);
    expect((await loadCheckpoint(join(second, "checkpoints", "best.safetensors"))).meta.step).toBe(3);
    expect(ckptFiles(first.run_dir)).toEqual(firstFiles); // untouched
  });

  it("resuming continues in the run's folder with the whole metrics history, and sweeps stale temp files", async () => {
    const ck = join(first.run_dir, "checkpoints");
    // A save killed mid-write (its writer is dead), and a file that only looks alike.
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const stale = `.step-0000010.safetensors.tmp-${dead}-k1ll3d`;
    writeFileSync(join(ck, stale), new Uint8Array(4096));
    writeFileSync(join(ck, "notes.tmp-1"), "mine");
    const r = await vit(
      [...base, ...every2, "trainer.max_steps=10", "--resume", first.checkpoint, "--json"],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).run_dir).toBe(first.run_dir);
    expect(existsSync(join(ck, stale))).toBe(false);
    expect(readFileSync(join(ck, "notes.tmp-1"), "utf8")).toBe("mine");
    // keep_last counts the run's history across the resume: steps 8 and 10 remain.
    expect(
      readdirSync(ck)
        .filter((f) => f.startsWith("step-"))
        .sort(),
    ).toEqual(["step-0000008.safetensors", "step-0000010.safetensors"]);
    // metrics.jsonl, metrics.csv and curves.svg all hold steps 1–10 once (the csv and svg used to restart
    // at the resume point).
    expect(trainSteps(first.run_dir)).toEqual(range(1, 10));
    const records = jsonl(first.run_dir);
    expect(csvRows(first.run_dir).map((l) => l.split(",").slice(0, 2).join(","))).toEqual(
      records.map((x) => `${x.kind},${x.step}`),
    );
    expect(svgTrainPoints(first.run_dir)).toBe(10);
  });

  it("resuming from an earlier checkpoint forks into a new folder and leaves the later history alone", async () => {
    const before = ckptFiles(first.run_dir);
    const history = jsonl(first.run_dir).filter((x) => x.kind === "train" && x.step <= 8);
    const from = join(first.run_dir, "checkpoints", "step-0000008.safetensors");
    const r = await vit([...base, ...every2, "trainer.max_steps=12", "--resume", from, "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const fork = lastJson(r.stdout).run_dir;
    expect(fork).toBe(join(dir, "runs", "r", "version_2"));
    expect(ckptFiles(first.run_dir)).toEqual(before);
    // The fork's history: steps 1–8 of the run it resumed, then its own 9–12, each once (appending used to
    // log steps 9 and 10 twice).
    expect(trainSteps(fork)).toEqual(range(1, 12));
    expect(jsonl(fork).filter((x) => x.kind === "train" && x.step <= 8)).toEqual(history);
    expect(csvRows(fork)).toHaveLength(jsonl(fork).length);
  });

  it("the best evaluation at an epoch end is kept as best.safetensors after keep_last prunes its step file", async () => {
    // Epochs of 8 steps are evaluated after step 8's checkpoint was written; keep_last=1 prunes it at step 12.
    const r = await vit(
      [
        ...base,
        "exp_manager.name=best",
        "trainer.max_steps=16",
        "exp_manager.checkpoint.every_n_steps=4",
        "exp_manager.checkpoint.keep_last=1",
        "exp_manager.checkpoint.monitor=val_loss",
        "--json",
      ],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    const vals = jsonl(out.run_dir).filter((x) => x.kind === "val");
    expect(vals.map((x) => x.step)).toEqual([8, 16]);
    const bestStep = vals.reduce((a, x) => (x.val_loss < a.val_loss ? x : a)).step;
    expect(bestStep, "premise: the final evaluation is not the best").toBe(8);
    const best = join(out.run_dir, "checkpoints", "best.safetensors");
    expect(existsSync(best), "best.safetensors was never written").toBe(true);
    expect((await loadCheckpoint(best)).meta.step).toBe(bestStep);
    expect(readdirSync(join(out.run_dir, "checkpoints")).sort()).toEqual([
      "best.safetensors",
      "step-0000016.safetensors",
    ]);
  });
});
