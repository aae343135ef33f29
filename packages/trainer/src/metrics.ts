/**
 * Metrics sinks: JSONL (one object per event) and CSV in the run directory, and an SVG of loss,
 * accuracy and learning-rate curves drawn at the end of a run (curves.ts).
 *
 * A resumed run continues the history of the run it resumes: the records up to the resumed step are
 * kept, the later ones (logged by a killed process after its last checkpoint, so not part of the resumed
 * history) dropped, and all three files describe the whole run, one record per kind and step.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderCurves } from "./curves.js";

export type MetricRecord = Record<string, number | string>;

const CSV_COLUMNS = [
  "kind",
  "step",
  "epoch",
  "loss",
  "lr",
  "grad_norm",
  "images_per_second",
  "val_loss",
  "val_top1",
  "val_top5",
  "elapsed_s",
];

const csvRow = (rec: MetricRecord) => `${CSV_COLUMNS.map((c) => rec[c] ?? "").join(",")}\n`;
const sameEvent = (a: MetricRecord, b: MetricRecord) => a.kind === b.kind && a.step === b.step;

/**
 * The records of `dir`/metrics.jsonl, one per kind and step (the last one logged wins). A line cut short
 * by a kill is skipped.
 */
export function readMetrics(dir: string): MetricRecord[] {
  const path = join(dir, "metrics.jsonl");
  if (!existsSync(path)) return [];
  const out: MetricRecord[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    let rec: MetricRecord;
    try {
      rec = JSON.parse(line) as MetricRecord;
    } catch {
      continue;
    }
    if (typeof rec !== "object" || rec === null || typeof rec.step !== "number") continue;
    const i = out.findIndex((r) => sameEvent(r, rec));
    if (i >= 0) out.splice(i, 1);
    out.push(rec);
  }
  return out;
}

export class MetricsLogger {
  readonly records: MetricRecord[];

  /**
   * `history`: continue the records of `history.dir` up to `history.step` (a resumed run); without it the
   * log starts empty.
   */
  constructor(
    readonly dir: string,
    history: { dir: string; step: number } | null = null,
  ) {
    mkdirSync(dir, { recursive: true });
    this.records = history ? readMetrics(history.dir).filter((r) => (r.step as number) <= history.step) : [];
    this.rewrite();
  }

  log(rec: MetricRecord): void {
    const i = this.records.findIndex((r) => sameEvent(r, rec));
    if (i >= 0) {
      // The same event again (a resumed run re-evaluating at its resume step): replace it.
      this.records[i] = rec;
      this.rewrite();
      return;
    }
    this.records.push(rec);
    appendFileSync(join(this.dir, "metrics.jsonl"), `${JSON.stringify(rec)}\n`);
    appendFileSync(join(this.dir, "metrics.csv"), csvRow(rec));
  }

  /** Writes both files from `records`, each atomically (temp + rename): a kill never loses the history. */
  private rewrite(): void {
    const write = (name: string, text: string) => {
      const tmp = join(this.dir, `.${name}.tmp-${process.pid}`);
      writeFileSync(tmp, text);
      renameSync(tmp, join(this.dir, name));
    };
    write("metrics.jsonl", this.records.map((r) => `${JSON.stringify(r)}\n`).join(""));
    write("metrics.csv", `${CSV_COLUMNS.join(",")}\n${this.records.map(csvRow).join("")}`);
  }

  /** Writes curves.svg: train loss and val loss (left), val top-1 (right), learning rate (bottom). */
  writePlot(): string {
    const path = join(this.dir, "curves.svg");
    writeFileSync(path, renderCurves(this.records));
    return path;
  }
}
