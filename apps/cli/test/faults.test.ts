/**
 * Fault injection: `vit train` with exp_manager.resume_if_exists (a preemptible job that is simply started
 * again) is SIGKILLed at seeded random points, ten times, and restarted after each kill. After every
 * kill the newest checkpoint loads, the metrics files hold each step once with the uninterrupted run's
 * values, and the temp files a killed save left are gone once the next process has started. At the end
 * the run equals the uninterrupted one bit for bit: losses, evaluations, final weights and optimizer state.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { latestCheckpoint, loadCheckpoint, stepOfCheckpoint } from "@vit/trainer";
import { describe, expect, it } from "vitest";
import { BIN, CONFIG, lastJson, vit } from "./helpers.js";

const STEPS = 40;
const KILLS = 10;

/** mulberry32: a small seeded generator, so that every run of the test kills at the same kind of points. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rec = Record<string, number | string>;
const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter(Boolean);
/** Every line must parse: a torn or missing record is a failure. */
const jsonl = (runDir: string): Rec[] => lines(join(runDir, "metrics.jsonl")).map((l) => JSON.parse(l));
/** kind, step, epoch, loss, lr, grad_norm, val_loss, val_top1, val_top5 (not the timings) of each CSV row. */
const csvCore = (runDir: string) =>
  lines(join(runDir, "metrics.csv"))
    .slice(1)
    .map((l) =>
      l
        .split(",")
        .filter((_, i) => ![6, 10].includes(i))
        .join(","),
    );
const tempFiles = (...dirs: string[]) =>
  dirs.flatMap((d) =>
    existsSync(d)
      ? readdirSync(d)
          .filter((f) => f.includes(".tmp-"))
          .map((f) => join(d, f))
      : [],
  );
const key = (r: Rec) => `${r.kind}@${r.step}`;

describe("fault injection", () => {
  it(`SIGKILLed ${KILLS} times at random points and restarted, a run ends exactly as the uninterrupted one`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-faults-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    const args = [
      "train",
      "--config",
      "smoke.yaml",
      `trainer.max_steps=${STEPS}`,
      "trainer.log_every_n_steps=1",
      // Dropout on: every resume must restore the device RNG exactly.
      "model.hidden_dropout=0.1",
      "model.attention_dropout=0.1",
      "exp_manager.checkpoint.every_n_steps=1",
      "exp_manager.checkpoint.keep_last=2",
    ];
    const ref = await vit([...args, "exp_manager.name=ref", "--json"], dir);
    expect(ref.code, ref.stderr).toBe(0);
    const refOut = lastJson(ref.stdout);
    const refRecs = jsonl(refOut.run_dir);
    const refByKey = new Map(refRecs.map((r) => [key(r), r]));
    const refTrain = refRecs.filter((r) => r.kind === "train");
    expect(refTrain.map((r) => r.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));

    // resume_if_exists: the run lives in runs/f itself and every start resumes its newest checkpoint.
    const job = [...args, "exp_manager.name=f", "exp_manager.resume_if_exists=true"];
    const runDir = join(dir, "runs", "f");
    const ckDir = join(runDir, "checkpoints");
    const random = rng(12);
    let gap = 100; // ms between two checkpoints, measured as the run goes
    let kills = 0;
    let leftBefore: string[] = [];
    let swept = 0;
    const killedAt: number[] = [];
    while (kills < KILLS) {
      const child: ChildProcess = spawn(process.execPath, [BIN, ...job], {
        cwd: dir,
        stdio: ["ignore", "ignore", "pipe"],
      });
      const saves = 1 + Math.floor(random() * 2); // kill after the 1st or 2nd checkpoint of this process ...
      const delay = random(); // ... plus this fraction of a checkpoint interval: anywhere in a step, save or eval
      const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
      const killed = await new Promise<boolean>((res) => {
        let seen = 0;
        let last = 0;
        let buf = "";
        child.stderr!.on("data", (d: Buffer) => {
          buf += d.toString();
          const parts = buf.split("\n");
          buf = parts.pop()!;
          for (const l of parts) {
            if (!l.startsWith("checkpoint ")) continue;
            const now = performance.now();
            if (seen > 0) gap = now - last;
            last = now;
            if (++seen === saves) {
              setTimeout(() => res(child.kill("SIGKILL")), delay * gap);
            }
          }
        });
        void exited.then(() => res(false));
      });
      const code = await exited;
      if (!killed || code !== null) break; // the run finished before the kill
      kills++;

      // The temp files the previous kill left were swept when this process started.
      for (const f of leftBefore) expect(existsSync(f), `${f} left by an earlier kill`).toBe(false);
      swept += leftBefore.length;
      leftBefore = tempFiles(ckDir, runDir);

      // The newest checkpoint is complete and loadable.
      const newest = latestCheckpoint(ckDir)!;
      const ck = await loadCheckpoint(newest);
      expect(ck.meta.step).toBe(stepOfCheckpoint(newest));
      expect(Object.keys(ck.model).length).toBeGreaterThan(0);
      killedAt.push(ck.meta.step);

      // Metrics: each event once; training steps 1..m without a gap; every value the uninterrupted run's.
      const recs = jsonl(runDir);
      expect(new Set(recs.map(key)).size, "duplicate steps in metrics.jsonl").toBe(recs.length);
      const trainSteps = recs.filter((r) => r.kind === "train").map((r) => r.step);
      expect(trainSteps).toEqual(Array.from({ length: trainSteps.length }, (_, i) => i + 1));
      expect(trainSteps.length).toBeGreaterThanOrEqual(ck.meta.step);
      for (const r of recs) {
        const want = refByKey.get(key(r))!;
        expect(want, key(r)).toBeDefined();
        for (const k of ["loss", "lr", "grad_norm", "val_loss", "val_top1", "val_top5"])
          expect(r[k], `${key(r)} ${k}`).toBe(want[k]);
      }
      // The CSV is the same history (a kill between the two appends leaves it one row behind at most).
      const csv = csvCore(runDir);
      expect(csv.length).toBeGreaterThanOrEqual(recs.length - 1);
      expect(csv.length).toBeLessThanOrEqual(recs.length);
    }
    expect(kills).toBe(KILLS);

    // The last start runs to the end.
    const fin = await vit([...job, "--json"], dir);
    expect(fin.code, fin.stderr).toBe(0);
    const out = lastJson(fin.stdout);
    expect(out.run_dir).toBe(runDir);
    expect(out.steps).toBe(STEPS);
    for (const f of leftBefore) expect(existsSync(f), `${f} left by the last kill`).toBe(false);
    swept += leftBefore.length;
    expect(tempFiles(ckDir, runDir)).toEqual([]);
    const refCk = join(refOut.run_dir, "checkpoints");
    expect(readdirSync(ckDir).sort()).toEqual(readdirSync(refCk).sort());
    expect(readdirSync(ckDir).filter((f) => f.startsWith("step-"))).toEqual([
      `step-${String(STEPS - 1).padStart(7, "0")}.safetensors`,
      `step-${String(STEPS).padStart(7, "0")}.safetensors`,
    ]);

    // The whole history equals the uninterrupted run's, in all three files.
    const strip = (rs: Rec[]) => rs.map(({ elapsed_s, images_per_second, ...r }) => r);
    expect(strip(jsonl(runDir))).toEqual(strip(refRecs));
    expect(csvCore(runDir)).toEqual(csvCore(refOut.run_dir));
    const polyline = (d: string) => /points="([^"]*)"/.exec(readFileSync(join(d, "curves.svg"), "utf8"))![1];
    expect(polyline(runDir)).toEqual(polyline(refOut.run_dir)); // the train-loss curve, point for point
    expect([out.top1, out.loss]).toEqual([refOut.top1, refOut.loss]);

    // Final weights and optimizer state, bit for bit.
    for (const [x, y] of [
      [refOut.checkpoint, out.checkpoint],
      [join(refCk, "best.safetensors"), join(ckDir, "best.safetensors")],
    ]) {
      const [a, b] = [await loadCheckpoint(x), await loadCheckpoint(y)];
      for (const part of ["model", "optim"] as const) {
        expect(Object.keys(b[part]).sort()).toEqual(Object.keys(a[part]).sort());
        for (const [k, t] of Object.entries(a[part]))
          expect(b[part][k]!.data, `${part}.${k}`).toEqual(t.data);
      }
      expect([b.meta.step, b.meta.rng]).toEqual([a.meta.step, a.meta.rng]);
    }
    console.log(
      `fault injection: ${kills} kills (newest checkpoint at steps ${killedAt.join(", ")}); ${swept} temp files swept`,
    );
  }, 900_000);
});
