/**
 * vit-bench: runs benchmark suites and prints a Markdown table (or, with --json, one JSON line) of
 * median/min/max per case beside the peers measured in the same run, and writes the JSON to --out
 * (with the adapter, versions and whatever the suites learned, e.g. the step's GPU profile).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Command } from "commander";
import { DEFAULT_SUITES, SUITES } from "./registry.js";
import { renderTable } from "./report.js";
import { COMM_COLUMNS, commWorker, isCommWorker } from "./suites/comm.js";
import type { BenchCase } from "./types.js";

function versions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = { node: process.versions.node };
  for (const name of ["webgpu", "@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-webgpu"]) {
    try {
      const pj = join(dirname(require.resolve(name)), "..");
      for (const dir of [dirname(require.resolve(name)), pj, join(pj, "..")]) {
        try {
          const j = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
            name?: string;
            version?: string;
          };
          if (j.name === name && j.version) {
            out[name] = j.version;
            break;
          }
        } catch {
          // not this directory
        }
      }
    } catch {
      // not installed
    }
  }
  return out;
}

// A rank of the comm suite's jobs (mpirun or torchrun-style), not the CLI.
if (isCommWorker()) {
  await commWorker();
  process.exit(0);
}

const program = new Command();
program
  .name("vit-bench")
  .description("vit benchmark suites")
  .argument(
    "[suites...]",
    `suites to run: ${Object.keys(SUITES).join(", ")} (default: ${DEFAULT_SUITES.join(", ")})`,
  )
  .option("--quick", "fewer repeats and smaller sizes (smoke run)")
  .option("--json", "print the JSON report as the last stdout line instead of the table")
  .option("--out <file>", "write the JSON report here", "bench-results.json")
  .option("--set <key=value...>", "suite options, e.g. --set preset=tiny batch=64 steps=8 autotune=1")
  .action(async (names: string[], opts: { quick?: boolean; json?: boolean; out: string; set?: string[] }) => {
    const chosen = names.length ? names : DEFAULT_SUITES;
    for (const n of chosen) {
      if (!SUITES[n]) {
        console.error(`vit-bench: unknown suite "${n}"; choose from ${Object.keys(SUITES).join(", ")}`);
        process.exit(2);
      }
    }
    const options: Record<string, string> = {};
    for (const kv of opts.set ?? []) {
      const i = kv.indexOf("=");
      if (i <= 0) {
        console.error(`vit-bench: --set expects key=value, got "${kv}"`);
        process.exit(2);
      }
      options[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const workDir = mkdtempSync(join(tmpdir(), "vit-bench-"));
    const cases: BenchCase[] = [];
    const meta: Record<string, unknown> = {};
    const log = (m: string) => console.error(`[bench] ${m}`);
    for (const n of chosen) {
      log(`suite ${n}`);
      cases.push(...(await SUITES[n]!({ quick: !!opts.quick, workDir, log, options, meta })));
    }
    const report = {
      date: new Date().toISOString(),
      versions: versions(),
      suites: chosen,
      options,
      meta,
      cases,
    };
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, JSON.stringify(report, null, 2));
    if (opts.json) console.log(JSON.stringify(report));
    else console.log(renderTable(cases, chosen.includes("comm") ? COMM_COLUMNS : []));
    process.exit(0);
  });

program.parseAsync(process.argv).catch((e) => {
  console.error(`vit-bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
