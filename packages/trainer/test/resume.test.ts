/** Resume after a kill at an epoch boundary: the run's history is the uninterrupted run's. */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Device } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MetricRecord, Trainer, readMetrics } from "../src/index.js";
import { tinyConfig } from "./helpers.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

const withoutTimings = (rs: MetricRecord[]) => rs.map(({ elapsed_s, images_per_second, ...r }) => r);

describe("resume at an epoch boundary", () => {
  it("a run killed between the checkpoint at an epoch's last step and that epoch's evaluation still evaluates it", async () => {
    // 256 samples / 16 = 16 steps per epoch, evaluated at each epoch's end; a checkpoint at step 16.
    const cfg = tinyConfig({}, { max_steps: 20 });
    cfg.exp_manager.resume_if_exists = true;
    cfg.exp_manager.checkpoint.every_n_steps = 16;
    const a = new Trainer(dev, cfg);
    await a.fit();
    a.dispose();
    const full = readMetrics(a.runDir);
    expect(full.filter((r) => r.kind === "val").map((r) => r.step)).toEqual([16, 20]);

    // The kill: after step 16's checkpoint, before the evaluation that follows it (nothing later on disk).
    const jsonl = join(a.runDir, "metrics.jsonl");
    const lines = readFileSync(jsonl, "utf8").trim().split("\n");
    writeFileSync(
      jsonl,
      `${lines
        .slice(
          0,
          lines.findIndex((l) => l.includes('"val"')),
        )
        .join("\n")}\n`,
    );
    rmSync(join(a.ckptDir, "step-0000020.safetensors"));
    rmSync(join(a.ckptDir, "best.safetensors"));

    const b = new Trainer(dev, cfg);
    const r = await b.fit();
    b.dispose();
    expect(b.runDir).toBe(a.runDir);
    expect(r.steps).toBe(20);
    expect(withoutTimings(readMetrics(b.runDir))).toEqual(withoutTimings(full));
  });
});
