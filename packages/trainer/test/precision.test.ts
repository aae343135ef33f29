/** bf16 training (autocast) and Megatron O2 (bf16 weights + fp32 master) against the fp32 run. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Device } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Trainer } from "../src/index.js";
import { tinyConfig } from "./helpers.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

function losses(runDir: string): number[] {
  return readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.kind === "train")
    .map((r) => r.loss as number);
}

async function run(precision: 32 | "bf16", o2: boolean) {
  const cfg = tinyConfig({ hidden_dropout: 0, attention_dropout: 0, megatron_amp_O2: o2 }, { max_steps: 12, precision });
  const t = new Trainer(dev, cfg);
  const weightDtypes = t.model.namedParameters().filter(([n, p]) => p.rank === 2 && n.endsWith(".weight")).map(([, p]) => p.dtype);
  const paramBytes = t.model.parameters().reduce((a, p) => a + p.numel * (p.dtype === "bf16" ? 2 : 4), 0);
  await t.fit();
  const l = losses(t.runDir);
  const state = Object.keys(t.optimizer.stateTensors());
  t.dispose();
  return { l, weightDtypes, paramBytes, state };
}

describe("mixed precision", () => {
  it("bf16 autocast and O2 follow the fp32 loss curve; O2 keeps bf16 weights and fp32 masters", async () => {
    const f32 = await run(32, false);
    const bf16 = await run("bf16", false);
    const o2 = await run("bf16", true);
    expect(f32.l).toHaveLength(12);
    for (const r of [bf16, o2]) {
      expect(r.l.every(Number.isFinite)).toBe(true);
      // Same data, same init: bf16 rounding moves the curve by well under 5%.
      r.l.forEach((v, i) => expect(Math.abs(v - f32.l[i]!) / f32.l[i]!).toBeLessThan(0.05));
    }
    // bf16 rounding is visible (not silently fp32).
    expect(bf16.l.some((v, i) => v !== f32.l[i])).toBe(true);
    expect(f32.weightDtypes.every((d) => d === "f32")).toBe(true);
    expect(o2.weightDtypes.length).toBeGreaterThan(4);
    expect(o2.weightDtypes.every((d) => d === "bf16")).toBe(true);
    expect(o2.paramBytes).toBeLessThan(0.6 * f32.paramBytes);
    expect(o2.state.filter((k) => k.endsWith(".master")).length).toBe(o2.weightDtypes.length);
  });

  it("O2 resumes exactly (masters are checkpointed)", async () => {
    const mk = () => tinyConfig({ megatron_amp_O2: true }, { max_steps: 6, precision: "bf16" });
    const a = new Trainer(dev, mk());
    await a.fit();
    const full = losses(a.runDir);
    a.dispose();
    const cfgB = mk();
    const b1 = new Trainer(dev, cfgB);
    const first = await b1.fit({ stopAtStep: 3 });
    b1.dispose();
    const b2 = new Trainer(dev, cfgB);
    await b2.fit({ resumeFrom: first.checkpoint! });
    const resumed = losses(b2.runDir);
    b2.dispose();
    expect(resumed.slice(-3)).toEqual(full.slice(-3));
  });

  it("O2 without bf16 precision is a config error", () => {
    expect(() => new Trainer(dev, tinyConfig({ megatron_amp_O2: true }))).toThrow(/megatron_amp_O2 needs half precision.*set trainer.precision=bf16 or 16/);
  });
});
