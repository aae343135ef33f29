import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("../scripts/check-gpu-report.mjs", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "vit-gpu-report-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Row = Record<string, unknown> & { id: string; extra?: Record<string, unknown> };

/** A sound smoke report: every row the dry run writes, as on lavapipe. */
function soundReport(): { options: Record<string, string>; meta: Record<string, unknown>; cases: Row[] } {
  const measured = (id: string, extra: Record<string, unknown> = {}): Row => ({
    suite: "gpu",
    id,
    name: id,
    unit: "x",
    median: 2,
    min: 1,
    max: 3,
    repeats: 2,
    extra,
  });
  const skipped = (id: string, why: string): Row => ({
    suite: "gpu",
    id,
    name: id,
    unit: "x",
    median: null,
    min: null,
    max: null,
    repeats: 0,
    skipped: why,
  });
  const step = { peak_MiB: 19, MFU_omitted: "no peak FLOP/s known", steps_per_block: 1 };
  const cases: Row[] = [
    measured("step:f32", step),
    measured("step:bf16", step),
    skipped("step:fp16", "the adapter lacks shader-f16"),
    measured("step:flash", { ...step, MFU: 0.25, MFU_omitted: undefined }),
    measured("step:f16-matmuls-tiled", step),
    skipped("step:f16-matmuls-subgroup-matrix", "the adapter lacks chromium-experimental-subgroup-matrix"),
  ];
  for (const d of ["f32", "f16"]) {
    for (const k of ["subgroup-matrix", "tiled", "texture", "generic"]) {
      const id = `matmul:${d}:${k}:256³`;
      cases.push(k === "subgroup-matrix" ? skipped(id, "no subgroup matrices") : measured(id, { kernel: k }));
    }
  }
  return { options: { smoke: "1" }, meta: { adapter: {}, peakTflops: { reason: "unknown" } }, cases };
}

function check(report: unknown, ...args: string[]) {
  const f = join(tmp, `r${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(report));
  const r = spawnSync(process.execPath, [SCRIPT, f, ...args], { encoding: "utf8" });
  return { status: r.status, err: r.stderr };
}

const withRow = (id: string, change: (r: Row) => void) => {
  const rep = soundReport();
  change(rep.cases.find((c) => c.id === id)!);
  return rep;
};

describe("check-gpu-report.mjs", () => {
  it("accepts a sound report", () => {
    expect(check(soundReport(), "--measured", "step:f32,matmul:f32:tiled:256³")).toEqual({
      status: 0,
      err: "",
    });
  });

  it.each<[string, () => unknown, RegExp]>([
    [
      "a missing row",
      () => ({ ...soundReport(), cases: soundReport().cases.slice(1) }),
      /step:f32: row missing/,
    ],
    [
      "a skip without a reason",
      () =>
        withRow("step:fp16", (r) => {
          r.skipped = " ";
        }),
      /step:fp16: skipped without a reason/,
    ],
    [
      "a failed case",
      () =>
        withRow("step:bf16", (r) => {
          r.failed = "boom";
        }),
      /step:bf16: failed: boom/,
    ],
    [
      "a median that is not a number",
      () =>
        withRow("step:f32", (r) => {
          r.median = null;
        }),
      /step:f32: median = null/,
    ],
    [
      "a zero extra figure",
      () =>
        withRow("matmul:f32:tiled:256³", (r) => {
          r.extra!.peak = 0;
        }),
      /extra.peak = 0/,
    ],
    [
      "a step without peak memory",
      () =>
        withRow("step:f32", (r) => {
          r.extra!.peak_MiB = undefined;
        }),
      /step:f32: no peak memory/,
    ],
    [
      "an MFU above 1",
      () =>
        withRow("step:flash", (r) => {
          r.extra!.MFU = 1.5;
        }),
      /step:flash: MFU must be in \(0, 1\]/,
    ],
    [
      "an MFU neither given nor explained",
      () =>
        withRow("step:f32", (r) => {
          r.extra!.MFU_omitted = undefined;
        }),
      /step:f32: MFU must/,
    ],
  ])("rejects %s", (_, report, message) => {
    const r = check(report());
    expect(r.status).toBe(1);
    expect(r.err).toMatch(message);
  });

  it("rejects a skipped row that --measured requires", () => {
    const r = check(soundReport(), "--measured", "step:fp16");
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/step:fp16: must be measured here, but was skipped: the adapter lacks shader-f16/);
  });

  it("rejects a file that is not JSON, in one line", () => {
    const f = join(tmp, "bad.json");
    writeFileSync(f, "{ not json");
    const r = spawnSync(process.execPath, [SCRIPT, f], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
