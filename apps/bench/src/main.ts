/**
 * vit-bench: runs benchmark suites and prints a Markdown table (or, with --json, one JSON line) of
 * median/min/max per case beside the peer measured in the same run, and writes the JSON to --out.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { SUITES } from "./registry.js";
import { renderTable } from "./report.js";
import type { BenchCase } from "./types.js";

const program = new Command();
program
  .name("vit-bench")
  .description("vit benchmark suites")
  .argument("[suites...]", `suites to run: ${Object.keys(SUITES).join(", ")}`)
  .option("--quick", "fewer repeats and smaller sizes (smoke run)")
  .option("--json", "print the JSON report as the last stdout line instead of the table")
  .option("--out <file>", "write the JSON report here", "bench-results.json")
  .action(async (names: string[], opts: { quick?: boolean; json?: boolean; out: string }) => {
    const chosen = names.length ? names : Object.keys(SUITES);
    for (const n of chosen) {
      if (!SUITES[n]) {
        console.error(`vit-bench: unknown suite "${n}"; choose from ${Object.keys(SUITES).join(", ")}`);
        process.exit(2);
      }
    }
    const workDir = mkdtempSync(join(tmpdir(), "vit-bench-"));
    const cases: BenchCase[] = [];
    const log = (m: string) => console.error(`[bench] ${m}`);
    for (const n of chosen) {
      log(`suite ${n}`);
      cases.push(...(await SUITES[n]!({ quick: !!opts.quick, workDir, log })));
    }
    const report = { date: new Date().toISOString(), node: process.versions.node, suites: chosen, cases };
    mkdirSync(join(opts.out, ".."), { recursive: true });
    writeFileSync(opts.out, JSON.stringify(report, null, 2));
    if (opts.json) console.log(JSON.stringify(report));
    else console.log(renderTable(cases));
    process.exit(0);
  });

program.parseAsync(process.argv).catch((e) => {
  console.error(`vit-bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
