/**
 * Stand-alone entry of the `gpu` suite for scripts/gpu.sh: bundled into one file (scripts/gpu-pack.sh)
 * so that a bare GPU machine needs only a Node binary and Dawn's `webgpu` package beside it — none of
 * the workspace's other dependencies (sharp, tfjs) that the full CLI loads.
 * Usage: node vit-bench-gpu.mjs <out.json> [key=value ...]   (Markdown table on stdout)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type ExtraColumn, renderTable } from "./report.js";
import { gpuSuite } from "./suites/gpu.js";

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const GPU_COLUMNS: ExtraColumn[] = [
  { key: "peak_MiB", label: "peak MiB", format: (v) => v.toFixed(0) },
  { key: "MFU", label: "MFU", format: pct },
  { key: "peer_peak_MiB", label: "peer peak MiB", format: (v) => v.toFixed(0) },
  { key: "peer_MFU", label: "peer MFU", format: pct },
  { key: "kernel", label: "kernel" },
];

/** What the table's figures are measured against, under it in gpu.md. */
function notes(meta: Record<string, unknown>): string {
  const adapter = meta.adapter as { device?: string; description?: string } | undefined;
  const peak = meta.peakTflops as
    | { gpu: string; tflops: Record<string, number> }
    | { reason: string }
    | undefined;
  const flops = meta.modelFlops as { train_GFLOP_per_image: number; formula: string } | undefined;
  const torch = meta.torch as { version?: string; error?: string } | undefined;
  return [
    `- adapter: ${adapter?.device ?? "?"} (${adapter?.description ?? "?"}); subgroup matrices: ${meta.subgroupMatrix}`,
    peak && "reason" in peak
      ? `- MFU omitted: ${peak.reason}`
      : `- MFU against ${peak?.gpu} peak TFLOP/s ${JSON.stringify(peak?.tflops)}`,
    `- model FLOPs: ${flops?.train_GFLOP_per_image.toFixed(2)} GFLOP per image per training step (${flops?.formula})`,
    `- PyTorch CUDA: ${torch?.version ?? torch?.error ?? "not run"}`,
  ].join("\n");
}

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
  console.log(`${renderTable(cases, GPU_COLUMNS)}\n\n${notes(meta)}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(`vit-bench-gpu: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
