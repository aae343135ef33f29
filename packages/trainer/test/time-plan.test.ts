import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Device } from "@vit/tensor";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type PlanInputs,
  Trainer,
  lrAt,
  parseConfig,
  stepsWithinBudget,
  timePlanCachePath,
} from "../src/index.js";
import { tinyConfig } from "./helpers.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());
const savedCacheDir = process.env.VIT_CACHE_DIR;
afterEach(() => {
  if (savedCacheDir === undefined) Reflect.deleteProperty(process.env, "VIT_CACHE_DIR");
  else process.env.VIT_CACHE_DIR = savedCacheDir;
});

function trainRecords(runDir: string): { step: number; loss: number; lr: number }[] {
  return readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.kind === "train");
}

describe("stepsWithinBudget", () => {
  // Reference: walk the steps one by one, charging each step and each validation it triggers, and keep
  // the last step that still ends inside the budget less the margin.
  function bruteForce(p: PlanInputs, every: number, margin: number): number {
    const limit = (p.budgetSeconds - p.elapsedSeconds) * (1 - margin);
    let best = p.step;
    for (let s = p.step + 1; s < p.step + 100_000; s++) {
      const spent = (s - p.step) * p.secondsPerStep;
      // A run of s steps validates after every step k < s that is a multiple of `every`.
      const withEvals =
        spent +
        (every > 0 ? Math.floor((s - 1) / every) - Math.floor(p.step / every) : 0) * p.validationSeconds;
      if (withEvals <= limit) best = s;
      else if (spent > limit) break;
    }
    return best;
  }

  for (const [every, sps, evalS] of [
    [0, 0.25, 0],
    [100, 0.25, 7.5],
    [37, 0.4, 3],
    [500, 0.1, 30],
  ] as const) {
    it(`plans the most steps that fit the budget (every ${every}, ${sps} s/step, ${evalS} s/eval)`, () => {
      const p: PlanInputs = {
        step: 50,
        elapsedSeconds: 20,
        secondsPerStep: sps,
        budgetSeconds: 540,
        validationsBetween: (from, to) =>
          every > 0 ? Math.floor((to - 1) / every) - Math.floor(from / every) : 0,
        validationSeconds: evalS,
      };
      const planned = stepsWithinBudget(p);
      const best = bruteForce(p, every, 0.07);
      expect(planned).toBe(best);
    });
  }

  it("a budget already spent plans no more steps", () => {
    const p = {
      step: 50,
      elapsedSeconds: 600,
      secondsPerStep: 0.3,
      budgetSeconds: 540,
      validationsBetween: () => 0,
      validationSeconds: 0,
    };
    expect(stepsWithinBudget(p)).toBe(50);
  });
});

describe("time-capped runs anneal (trainer.time_plan)", () => {
  // A clock that advances 200 ms per optimizer step: steps 20..90 measure 0.2 s/step, 18 s of the 24 s
  // budget are spent by then, so (24 − 18) × 0.93 / 0.2 = 27.9 → 27 more steps: 117 in all.
  const budget = 24;
  const expected = 90 + Math.floor(((budget - 18) * 0.93) / 0.2);
  const common = (plan: string, maxSteps: number) =>
    tinyConfig(
      { hidden_dropout: 0, attention_dropout: 0 },
      {
        max_steps: maxSteps,
        max_time_seconds: budget,
        time_plan: plan,
        val_check_interval: 1000,
        log_every_n_steps: 1,
      },
      { sched: { name: "CosineAnnealing", warmup_steps: 100, min_lr: 1e-4 } },
    );

  it("measures, plans the cosine over the steps that fit, caches the plan, and the cached plan repeats the run exactly", async () => {
    process.env.VIT_CACHE_DIR = mkdtempSync(join(tmpdir(), "vit-plan-"));
    const logs: string[] = [];
    const measured = new Trainer(dev, common("measure", 300), { log: (m) => logs.push(m) });
    const res = await measured.fit({ clock: () => 200 * measured.step });
    measured.dispose();
    expect(res.steps).toBe(expected);
    expect(
      logs.some(
        (l) => l.includes(`time plan: ${expected} of 300 steps`) && l.includes("measured 0.200 s/step"),
      ),
    ).toBe(true);
    const cache = JSON.parse(readFileSync(timePlanCachePath(), "utf8"));
    expect(Object.values(cache).map((e) => (e as { steps: number }).steps)).toEqual([expected]);

    // Reference: the same run configured with max_steps = the plan and no time limit.
    const plainCfg = common("off", expected);
    const plain = new Trainer(
      dev,
      parseConfig({ ...plainCfg, trainer: { ...plainCfg.trainer, max_time_seconds: 0 } }),
    );
    await plain.fit();
    plain.dispose();
    const ref = trainRecords(plain.runDir);
    const got = trainRecords(measured.runDir);
    expect(got.map((r) => r.loss)).toEqual(ref.map((r) => r.loss));
    // The schedule ran to its end: the last step's learning rate is the cosine's last value over `expected`.
    const sched = { name: "CosineAnnealing" as const, warmup_steps: 100, min_lr: 1e-4, max_steps: expected };
    expect(got.map((r) => r.lr)).toEqual(got.map((r) => lrAt(r.step - 1, 1e-2, sched)));
    expect(got.at(-1)!.lr).toBeLessThan(1e-4 + 0.02 * (1e-2 - 1e-4));

    // Later runs on this host read the plan: from step 0, the same steps, the same losses.
    const logs2: string[] = [];
    const cached = new Trainer(dev, common("auto", 300), { log: (m) => logs2.push(m) });
    const res2 = await cached.fit({ clock: () => 200 * cached.step });
    cached.dispose();
    expect(res2.steps).toBe(expected);
    expect(logs2.some((l) => l.includes("(cached)"))).toBe(true);
    expect(trainRecords(cached.runDir).map((r) => r.loss)).toEqual(ref.map((r) => r.loss));
  });

  it("time_plan=off keeps Lightning's behaviour: the limit stops the run mid-schedule", async () => {
    process.env.VIT_CACHE_DIR = mkdtempSync(join(tmpdir(), "vit-plan-"));
    const t = new Trainer(dev, common("off", 300));
    const res = await t.fit({ clock: () => 200 * t.step });
    t.dispose();
    // 24 s at 0.2 s per step: the step that crosses 24 s is the last one.
    expect(res.steps).toBe(121);
    const recs = trainRecords(t.runDir);
    expect(recs.at(-1)!.lr).toBeGreaterThan(5e-3);
  });

  it("a time-only cosine run is accepted with a plan and refused without one", () => {
    const base = { model: { optim: { lr: 1, sched: { name: "CosineAnnealing" } } } };
    expect(() => parseConfig({ ...base, trainer: { max_time_seconds: 60 } })).not.toThrow();
    expect(() => parseConfig({ ...base, trainer: { max_time_seconds: 60, time_plan: "off" } })).toThrow(
      /CosineAnnealing needs a length/,
    );
  });
});
