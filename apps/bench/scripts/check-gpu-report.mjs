#!/usr/bin/env node
// Checks a gpu.json written by scripts/gpu.sh (the `gpu` suite): it parses; it has exactly the rows the
// suite promises (every step variant, every matmul dtype × kernel × shape), each once; a measured row has
// finite figures > 0 (median between min and max, every numeric extra, the peer's), a step row its peak
// memory and either an MFU in (0, 1] or the reason it is left out; a skipped row has a reason; no row
// failed. --measured id,id,... names rows that must have been measured (not skipped) on this adapter.
//   node apps/bench/scripts/check-gpu-report.mjs OUT/gpu.json [--measured step:f32,...]
// Prints one line per problem and exits 1, or one summary line and exits 0.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

// What the suite must write, stated here apart from src/suites/gpu.ts on purpose: a row the suite stops
// writing is then a failure of this check, not a silent change of the list.

const STEPS = ["f32", "bf16", "fp16", "flash", "f16-matmuls-tiled", "f16-matmuls-subgroup-matrix"];
const KERNELS = ["subgroup-matrix", "tiled", "texture", "generic"];
const SHAPES = ["1024³", "ViT-B/16 b64 qkv (x·Wᵀ)", "ViT-B/16 b64 fc1 (x·Wᵀ)", "ViT-B/16 b64 fc2 dW (dYᵀ·X)"];
const SMOKE_SHAPES = ["256³"];

export function expectedIds(options = {}) {
  const shapes = options.smoke ? SMOKE_SHAPES : SHAPES;
  return [
    ...STEPS.map((s) => `step:${s}`),
    ...["f32", "f16"].flatMap((d) => KERNELS.flatMap((k) => shapes.map((s) => `matmul:${d}:${k}:${s}`))),
  ];
}

const positive = (v) => typeof v === "number" && Number.isFinite(v) && v > 0;

/** Problems found in `report` (empty when it is sound). */
export function checkGpuReport(report, measured = []) {
  const problems = [];
  if (!report || !Array.isArray(report.cases)) return ["no cases array"];
  if (!report.meta?.adapter) problems.push("meta.adapter is missing");
  if (!report.meta?.peakTflops) problems.push("meta.peakTflops is missing");
  const byId = new Map();
  for (const c of report.cases) {
    const id = c.id ?? `(no id: ${c.name})`;
    if (byId.has(id)) problems.push(`${id}: duplicate row`);
    byId.set(id, c);
  }
  const want = expectedIds(report.options);
  for (const id of want) if (!byId.has(id)) problems.push(`${id}: row missing`);
  for (const id of byId.keys()) if (!want.includes(id)) problems.push(`${id}: unexpected row`);
  for (const [id, c] of byId) {
    if (c.failed !== undefined) {
      problems.push(`${id}: failed: ${c.failed}`);
      continue;
    }
    if (c.skipped !== undefined) {
      if (typeof c.skipped !== "string" || !c.skipped.trim())
        problems.push(`${id}: skipped without a reason`);
      if (measured.includes(id)) problems.push(`${id}: must be measured here, but was skipped: ${c.skipped}`);
      continue;
    }
    for (const k of ["median", "min", "max"]) if (!positive(c[k])) problems.push(`${id}: ${k} = ${c[k]}`);
    if (!(c.min <= c.median && c.median <= c.max)) problems.push(`${id}: median outside min–max`);
    if (!(Number.isInteger(c.repeats) && c.repeats >= 1)) problems.push(`${id}: repeats = ${c.repeats}`);
    for (const [k, v] of Object.entries(c.extra ?? {})) {
      if (typeof v === "number" && !positive(v)) problems.push(`${id}: extra.${k} = ${v}`);
      if (typeof v === "string" && !v.trim()) problems.push(`${id}: extra.${k} is empty`);
    }
    if (c.peer && !positive(c.peer.median)) problems.push(`${id}: peer median = ${c.peer.median}`);
    if (c.peer && !positive(c.ratio)) problems.push(`${id}: ratio = ${c.ratio}`);
    if (id.startsWith("step:")) {
      const e = c.extra ?? {};
      if (!positive(e.peak_MiB)) problems.push(`${id}: no peak memory`);
      const mfuKeys = c.peer ? ["MFU", "peer_MFU"] : ["MFU"];
      for (const k of mfuKeys) {
        if (e[k] !== undefined ? !(positive(e[k]) && e[k] <= 1) : typeof e[`${k}_omitted`] !== "string") {
          problems.push(`${id}: ${k} must be in (0, 1] or carry ${k}_omitted with a reason (got ${e[k]})`);
        }
      }
    }
  }
  return problems;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [file, flag, list] = process.argv.slice(2);
  if (!file || (flag && flag !== "--measured")) {
    console.error("usage: check-gpu-report.mjs gpu.json [--measured id,id,...]");
    process.exit(2);
  }
  let report;
  try {
    report = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    console.error(`check-gpu-report: ${file}: ${e.message}`);
    process.exit(1);
  }
  const problems = checkGpuReport(report, list ? list.split(",") : []);
  for (const p of problems) console.error(`check-gpu-report: ${p}`);
  if (problems.length) process.exit(1);
  const skipped = report.cases.filter((c) => c.skipped).length;
  console.log(
    `check-gpu-report: ${file}: ${report.cases.length} rows sound (${skipped} skipped with a reason)`,
  );
}
