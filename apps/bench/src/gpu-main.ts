/**
 * Stand-alone entry of the `gpu` suite for scripts/gpu.sh: bundled into one file (scripts/gpu-pack.sh)
 * so that a bare GPU machine needs only a Node binary and Dawn's `webgpu` package beside it — none of
 * the workspace's other dependencies (sharp, tfjs) that the full CLI loads.
 * Usage: node vit-bench-gpu.mjs <out.json> [key=value ...]   (Markdown table on stdout)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { renderTable } from "./report.js";
import { gpuSuite } from "./suites/gpu.js";

async function main(): Promise<void> {
  const [out = "gpu-results.json", ...kv] = process.argv.slice(2);
  const options = Object.fromEntries(
    kv.map((s) => [s.slice(0, s.indexOf("=")), s.slice(s.indexOf("=") + 1)]),
  );
  const meta: Record<string, unknown> = {};
  const log = (m: string) => console.error(`[gpu] ${m}`);
  const t0 = performance.now();
  const cases = await gpuSuite({ quick: false, workDir: dirname(out), log, options, meta });
  const report = {
    date: new Date().toISOString(),
    versions: { node: process.versions.node },
    suites: ["gpu"],
    options,
    meta,
    seconds: (performance.now() - t0) / 1000,
    cases,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2));
  console.log(renderTable(cases));
  process.exit(0);
}

main().catch((e) => {
  console.error(`vit-bench-gpu: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
