/**
 * Metrics sinks: JSONL (one object per event) and CSV in the run directory, and an SVG of loss,
 * accuracy and learning-rate curves drawn at the end of a run (curves.ts).
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderCurves } from "./curves.js";

export type MetricRecord = Record<string, number | string>;

export class MetricsLogger {
  readonly records: MetricRecord[] = [];
  private csvHeader: string[] | null = null;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  log(rec: MetricRecord): void {
    this.records.push(rec);
    appendFileSync(join(this.dir, "metrics.jsonl"), `${JSON.stringify(rec)}\n`);
    const cols = ["kind", "step", "epoch", "loss", "lr", "grad_norm", "images_per_second", "val_loss", "val_top1", "val_top5", "elapsed_s"];
    if (!this.csvHeader) {
      this.csvHeader = cols;
      writeFileSync(join(this.dir, "metrics.csv"), `${cols.join(",")}\n`);
    }
    appendFileSync(join(this.dir, "metrics.csv"), `${cols.map((c) => rec[c] ?? "").join(",")}\n`);
  }

  /** Writes curves.svg: train loss and val loss (left), val top-1 (right), learning rate (bottom). */
  writePlot(): string {
    const path = join(this.dir, "curves.svg");
    writeFileSync(path, renderCurves(this.records));
    return path;
  }
}
