/**
 * Metrics sinks: JSONL (one object per event) and CSV in the run directory, and an SVG of loss,
 * accuracy and learning-rate curves drawn at the end of a run (no plotting dependency needed).
 *
 * A resumed run continues the history of the run it resumes: the records up to the resumed step are
 * kept, the later ones (logged by a killed process after its last checkpoint, so not part of the resumed
 * history) dropped, and all three files describe the whole run, one record per kind and step.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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

function polyline(
  points: Array<[number, number]>,
  x0: number,
  y0: number,
  w: number,
  h: number,
  color: string,
): string {
  if (points.length === 0) return "";
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [xmin, xmax] = [Math.min(...xs), Math.max(...xs)];
  const [ymin, ymax] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => x0 + (xmax > xmin ? ((x - xmin) / (xmax - xmin)) * w : w / 2);
  const sy = (y: number) => y0 + h - (ymax > ymin ? ((y - ymin) / (ymax - ymin)) * h : h / 2);
  const d = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
  return `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${d}"/>
<text x="${x0 + w + 4}" y="${sy(ys[ys.length - 1]!).toFixed(1)}" font-size="10" fill="${color}">${ys[ys.length - 1]!.toPrecision(4)}</text>
<text x="${x0 - 4}" y="${y0 + 10}" font-size="9" text-anchor="end" fill="#555">${ymax.toPrecision(3)}</text>
<text x="${x0 - 4}" y="${y0 + h}" font-size="9" text-anchor="end" fill="#555">${ymin.toPrecision(3)}</text>`;
}

export function renderCurves(records: MetricRecord[]): string {
  const train = records.filter((r) => r.kind === "train");
  const val = records.filter((r) => r.kind === "val");
  const pts = (rs: MetricRecord[], key: string) =>
    rs
      .filter((r) => typeof r[key] === "number")
      .map((r) => [r.step as number, r[key] as number] as [number, number]);
  const W = 300;
  const H = 150;
  const panel = (x: number, y: number, title: string, lines: string) =>
    `<g><rect x="${x}" y="${y}" width="${W}" height="${H}" fill="none" stroke="#ccc"/><text x="${x}" y="${y - 6}" font-size="12">${title}</text>${lines}</g>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="760" height="420" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${panel(50, 30, "loss (blue: train, orange: val) vs step", polyline(pts(train, "loss"), 50, 30, W, H, "#1f77b4") + polyline(pts(val, "val_loss"), 50, 30, W, H, "#ff7f0e"))}
${panel(420, 30, "val top-1 vs step", polyline(pts(val, "val_top1"), 420, 30, W, H, "#2ca02c"))}
${panel(50, 240, "learning rate vs step", polyline(pts(train, "lr"), 50, 240, W, H, "#9467bd"))}
${panel(420, 240, "images/s vs step", polyline(pts(train, "images_per_second"), 420, 240, W, H, "#8c564b"))}
</svg>`;
}
