/**
 * curves.svg: a run's metrics as four panels (loss, validation accuracy, learning rate, throughput) against
 * the optimizer step, drawn without a plotting dependency. Every panel has one y axis shared by all its
 * series (train and validation loss are on the same scale) with labelled "nice" ticks, and all panels share
 * the step axis. Validation points, and any series with a single point, are drawn as markers so that they
 * show however few there are.
 */
export type CurveRecord = Record<string, number | string>;

interface Series {
  /** Machine-readable name, written as data-series (tests read the picture back through it). */
  id: string;
  label: string;
  color: string;
  points: Array<[number, number]>;
  markers: boolean;
  dash?: string;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  step: number;
}

const W = 330;
const H = 200;
/** Inset of the axes' ends from the frame, so that markers at the extremes are drawn whole. */
const PAD = 8;
const FONT = 'font-family="sans-serif"';

/** 1, 2 or 5 × 10^k closest to (round) or at least (!round) `x` (Heckbert's nice numbers). */
function niceNumber(x: number, round: boolean): number {
  const e = Math.floor(Math.log10(x));
  const f = x / 10 ** e;
  const n = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return n * 10 ** e;
}

/** Decimal places that print every multiple of `step` exactly. */
function decimals(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/** An axis covering [lo, hi] with about `n` ticks at round values, widened to the outer ticks. */
export function niceAxis(min: number, max: number, n = 5): Axis {
  // One value (or all equal): a small band around it, so the points sit mid-panel on a labelled axis.
  const pad = max > min ? 0 : min === 0 ? 1 : Math.abs(min) * 0.1;
  const [lo, hi] = [min - pad, max + pad];
  const step = niceNumber(niceNumber(hi - lo, false) / (n - 1), true);
  const d = decimals(step);
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toFixed(d)));
  return { lo: ticks[0]!, hi: ticks[ticks.length - 1]!, ticks, step };
}

/** A tick label that reads back as the tick's value: fixed decimals, or e-notation for small magnitudes. */
export function tickLabel(v: number, step: number): string {
  if (v === 0) return "0";
  if (step < 1e-3) {
    const digits = Math.max(0, Math.floor(Math.log10(Math.abs(v))) - Math.floor(Math.log10(step) + 1e-9));
    return v
      .toExponential(digits)
      .replace(/\.?0+e/, "e")
      .replace("e+", "e");
  }
  return v.toFixed(decimals(step));
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}

/** Formats a y value; `step` is the tick spacing (labels must read back as the tick's exact value). */
type Format = (v: number, step: number) => string;

function panel(
  x0: number,
  y0: number,
  title: string,
  series: Series[],
  xAxis: Axis,
  yFormat: Format = tickLabel,
): string {
  const out: string[] = [
    `<g data-panel="${esc(title)}">`,
    `<text x="${x0}" y="${y0 - 26}" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${x0}" y="${y0}" width="${W}" height="${H}" fill="none" stroke="#999"/>`,
  ];
  const sx = (x: number) => x0 + PAD + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * (W - 2 * PAD);
  for (const t of xAxis.ticks) {
    const px = sx(t).toFixed(1);
    out.push(`<line x1="${px}" y1="${y0}" x2="${px}" y2="${y0 + H}" stroke="#eee"/>`);
    // Each tick is a group of its mark and its label (tests read the axis back from these pairs).
    out.push(
      `<g class="xtick"><line x1="${px}" y1="${y0 + H}" x2="${px}" y2="${y0 + H + 4}" stroke="#999"/>` +
        `<text x="${px}" y="${y0 + H + 15}" font-size="10" text-anchor="middle" fill="#444">${tickLabel(t, xAxis.step)}</text></g>`,
    );
  }
  out.push(
    `<text x="${x0 + W / 2}" y="${y0 + H + 29}" font-size="10" text-anchor="middle" fill="#444">step</text>`,
  );
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  if (values.length === 0) {
    out.push(
      `<text x="${x0 + W / 2}" y="${y0 + H / 2}" font-size="11" text-anchor="middle" fill="#999">no data yet</text></g>`,
    );
    return out.join("\n");
  }
  const y = niceAxis(Math.min(...values), Math.max(...values));
  const sy = (v: number) => y0 + H - PAD - ((v - y.lo) / (y.hi - y.lo)) * (H - 2 * PAD);
  for (const t of y.ticks) {
    const py = sy(t).toFixed(1);
    out.push(`<line x1="${x0}" y1="${py}" x2="${x0 + W}" y2="${py}" stroke="#eee"/>`);
    out.push(
      `<g class="ytick"><line x1="${x0 - 4}" y1="${py}" x2="${x0}" y2="${py}" stroke="#999"/>` +
        `<text x="${x0 - 6}" y="${(sy(t) + 3.5).toFixed(1)}" font-size="10" text-anchor="end" fill="#444">${yFormat(t, y.step)}</text></g>`,
    );
  }
  series.forEach((s, i) => {
    const pts = s.points.map(([a, b]) => `${sx(a).toFixed(1)},${sy(b).toFixed(1)}`);
    if (pts.length > 1) {
      out.push(
        `<polyline data-series="${s.id}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""} points="${pts.join(" ")}"/>`,
      );
    }
    if (s.markers || pts.length === 1) {
      for (const p of pts) {
        const [cx, cy] = p.split(",");
        out.push(
          `<circle data-series="${s.id}" cx="${cx}" cy="${cy}" r="3.5" fill="white" stroke="${s.color}" stroke-width="2"/>`,
        );
      }
    }
    // Legend between the title and the plot, from the right edge: each series' style and last value.
    const ly = y0 - 8;
    const lx = x0 + W - 100 * (series.length - i);
    const last = s.points.length ? s.points[s.points.length - 1]![1] : Number.NaN;
    out.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 18}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`,
    );
    if (s.markers)
      out.push(
        `<circle cx="${lx + 9}" cy="${ly - 4}" r="3" fill="white" stroke="${s.color}" stroke-width="2"/>`,
      );
    out.push(
      `<text x="${lx + 24}" y="${ly}" font-size="10" fill="#222">${esc(s.label)}: ${Number.isFinite(last) ? yFormat(last, y.step / 100) : "-"}</text>`,
    );
  });
  out.push("</g>");
  return out.join("\n");
}

/** The SVG of `records` (the MetricsLogger's: kind "train" and "val" rows keyed by step). */
export function renderCurves(records: CurveRecord[]): string {
  const train = records.filter((r) => r.kind === "train");
  const val = records.filter((r) => r.kind === "val");
  const pts = (rs: CurveRecord[], key: string) =>
    rs
      .filter((r) => typeof r[key] === "number" && Number.isFinite(r[key]))
      .map((r) => [r.step as number, r[key] as number] as [number, number]);
  const steps = [...train, ...val].map((r) => r.step).filter((s): s is number => typeof s === "number");
  const xAxis = niceAxis(0, Math.max(1, ...steps));
  const pct: Format = (v, step) => `${tickLabel(100 * v, 100 * step)}%`;
  const series = (
    id: string,
    label: string,
    color: string,
    points: Array<[number, number]>,
    markers = false,
    dash?: string,
  ): Series => ({
    id,
    label,
    color,
    points,
    markers,
    ...(dash ? { dash } : {}),
  });
  const x = [80, 500];
  const y = [56, 346];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="880" height="600" ${FONT}>
<rect width="100%" height="100%" fill="white"/>
${panel(x[0]!, y[0]!, "loss (shared axis)", [series("train_loss", "train", "#1f77b4", pts(train, "loss")), series("val_loss", "val", "#ff7f0e", pts(val, "val_loss"), true)], xAxis)}
${panel(x[1]!, y[0]!, "validation accuracy", [series("val_top1", "top-1", "#2ca02c", pts(val, "val_top1"), true), series("val_top5", "top-5", "#98df8a", pts(val, "val_top5"), true, "4 3")], xAxis, pct)}
${panel(x[0]!, y[1]!, "learning rate", [series("lr", "lr", "#9467bd", pts(train, "lr"))], xAxis)}
${panel(x[1]!, y[1]!, "throughput (images/s)", [series("images_per_second", "images/s", "#8c564b", pts(train, "images_per_second"))], xAxis)}
</svg>
`;
}
