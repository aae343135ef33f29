/**
 * Metrics sinks: JSONL (one object per event) and CSV in the run directory, and an SVG of loss,
 * accuracy and learning-rate curves drawn at the end of a run (no plotting dependency needed).
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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

function polyline(points: Array<[number, number]>, x0: number, y0: number, w: number, h: number, color: string): string {
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
    rs.filter((r) => typeof r[key] === "number").map((r) => [r.step as number, r[key] as number] as [number, number]);
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
