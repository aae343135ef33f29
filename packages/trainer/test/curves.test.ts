/**
 * curves.svg read back as a reader would: each panel's axes are recovered from its tick labels alone
 * (label text + the tick mark's position), and every drawn point must map back through those axes to the
 * metric value it stands for. Train and validation loss therefore have to share one honest scale.
 */
import { describe, expect, it } from "vitest";
import { renderCurves } from "../src/curves.js";

type Rec = Record<string, number | string>;

interface Tick {
  pos: number;
  value: number;
}

/** A label as a number: "0.5", "8e-4", "80%". */
function labelValue(s: string): number {
  const v = s.endsWith("%") ? Number(s.slice(0, -1)) / 100 : Number(s);
  expect(Number.isFinite(v), `tick label "${s}"`).toBe(true);
  return v;
}

function panels(svg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of svg.matchAll(/<g data-panel="([^"]+)">([\s\S]*?)\n<\/g>/g)) out.set(m[1]!, m[2]!);
  return out;
}

function ticks(panel: string, axis: "x" | "y"): Tick[] {
  const re =
    axis === "x"
      ? /<g class="xtick"><line x1="([\d.]+)"[^>]*\/><text[^>]*>([^<]+)<\/text><\/g>/g
      : /<g class="ytick"><line x1="[\d.]+" y1="([\d.]+)"[^>]*\/><text[^>]*>([^<]+)<\/text><\/g>/g;
  return [...panel.matchAll(re)].map((m) => ({ pos: Number(m[1]), value: labelValue(m[2]!) }));
}

/** The linear pixel → value map through the outer ticks; every tick in between must lie on it. */
function axisMap(ts: Tick[]): { value: (px: number) => number; perPixel: number } {
  expect(ts.length).toBeGreaterThanOrEqual(2);
  const [a, b] = [ts[0]!, ts[ts.length - 1]!];
  const perPixel = (b.value - a.value) / (b.pos - a.pos);
  const value = (px: number) => a.value + (px - a.pos) * perPixel;
  for (const t of ts) expect(Math.abs(value(t.pos) - t.value)).toBeLessThanOrEqual(Math.abs(perPixel) * 0.11);
  return { value, perPixel: Math.abs(perPixel) };
}

/** The (x, y) pixel points of a series: its polyline's points, or its markers' centres. */
function drawn(panel: string, series: string, shape: "polyline" | "circle"): Array<[number, number]> {
  if (shape === "polyline") {
    const m = panel.match(new RegExp(`<polyline data-series="${series}"[^>]* points="([^"]+)"`));
    if (!m) return [];
    return m[1]!.split(" ").map((p) => p.split(",").map(Number) as [number, number]);
  }
  return [
    ...panel.matchAll(
      new RegExp(`<circle data-series="${series}" cx="([\\d.]+)" cy="([\\d.]+)" r="([\\d.]+)"`, "g"),
    ),
  ].map((m) => [Number(m[1]), Number(m[2])] as [number, number]);
}

function expectMapsBack(
  panel: string,
  series: string,
  shape: "polyline" | "circle",
  want: Array<[number, number]>,
): void {
  const x = axisMap(ticks(panel, "x"));
  const y = axisMap(ticks(panel, "y"));
  const got = drawn(panel, series, shape);
  expect(got.length, `${series} points`).toBe(want.length);
  got.forEach(([px, py], i) => {
    // Coordinates are written with one decimal: half a pixel of slack covers the rounding.
    expect(Math.abs(x.value(px) - want[i]![0]), `${series}[${i}] step`).toBeLessThanOrEqual(
      x.perPixel * 0.06,
    );
    expect(Math.abs(y.value(py) - want[i]![1]), `${series}[${i}] value`).toBeLessThanOrEqual(
      y.perPixel * 0.06,
    );
  });
}

function run(steps: number, valEvery: number): Rec[] {
  const recs: Rec[] = [];
  for (let s = 10; s <= steps; s += 10) {
    recs.push({
      kind: "train",
      step: s,
      epoch: 0,
      loss: 2.3 * Math.exp(-s / 80) + 0.35,
      lr: 1e-3 * (1 - s / (steps + 10)),
      images_per_second: 900 + (s % 70),
      elapsed_s: s,
    });
    if (s % valEvery === 0)
      recs.push({
        kind: "val",
        step: s,
        epoch: 0,
        val_loss: 2.1 * Math.exp(-s / 90) + 0.5,
        val_top1: 0.4 + s / 1000,
        val_top5: 0.7 + s / 2000,
        elapsed_s: s,
      });
  }
  return recs;
}

const series = (recs: Rec[], kind: string, key: string) =>
  recs.filter((r) => r.kind === kind).map((r) => [r.step as number, r[key] as number] as [number, number]);

describe("curves.svg", () => {
  it("train and validation loss are drawn on one axis that the tick labels describe", () => {
    const recs = run(300, 100);
    const p = panels(renderCurves(recs));
    const loss = p.get("loss (shared axis)")!;
    expectMapsBack(loss, "train_loss", "polyline", series(recs, "train", "loss"));
    expectMapsBack(loss, "val_loss", "polyline", series(recs, "val", "val_loss"));
    // Validation points are also marked, each one.
    expectMapsBack(loss, "val_loss", "circle", series(recs, "val", "val_loss"));
    expectMapsBack(p.get("validation accuracy")!, "val_top1", "circle", series(recs, "val", "val_top1"));
    expectMapsBack(p.get("learning rate")!, "lr", "polyline", series(recs, "train", "lr"));
    expectMapsBack(
      p.get("throughput (images/s)")!,
      "images_per_second",
      "polyline",
      series(recs, "train", "images_per_second"),
    );
  });

  it("the step axis has ticks from 0 past the last step, shared by every panel", () => {
    const all = [...panels(renderCurves(run(300, 100)))];
    expect(all).toHaveLength(4);
    // Tick positions relative to each panel's frame.
    const relative = (panel: string) => {
      const left = Number(panel.match(/<rect x="([\d.]+)"/)![1]);
      return ticks(panel, "x").map((t) => ({ value: t.value, pos: Number((t.pos - left).toFixed(1)) }));
    };
    const first = relative(all[0]![1]);
    expect(first.length).toBeGreaterThanOrEqual(3);
    expect(first[0]!.value).toBe(0);
    expect(first[first.length - 1]!.value).toBeGreaterThanOrEqual(300);
    for (const [name, panel] of all) expect(relative(panel), name).toEqual(first);
  });

  it("a single validation point is a visible marker inside the plot, at its value", () => {
    const recs = run(80, 80);
    expect(recs.filter((r) => r.kind === "val")).toHaveLength(1);
    const svg = renderCurves(recs);
    const loss = panels(svg).get("loss (shared axis)")!;
    expectMapsBack(loss, "val_loss", "circle", series(recs, "val", "val_loss"));
    const frame = loss
      .match(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/)!
      .slice(1)
      .map(Number);
    const circle = loss
      .match(/<circle data-series="val_loss" cx="([\d.]+)" cy="([\d.]+)" r="([\d.]+)"/)!
      .slice(1)
      .map(Number);
    const [fx, fy, fw, fh] = frame as [number, number, number, number];
    const [cx, cy, r] = circle as [number, number, number];
    expect(r).toBeGreaterThanOrEqual(3);
    // Whole marker inside the frame, not cut by its edge.
    expect(cx - r).toBeGreaterThan(fx);
    expect(cx + r).toBeLessThan(fx + fw);
    expect(cy - r).toBeGreaterThan(fy);
    expect(cy + r).toBeLessThan(fy + fh);
  });

  it("one value (or none) still gets a labelled axis", () => {
    const one = [
      { kind: "train", step: 5, epoch: 0, loss: 1.5, lr: 0.001, images_per_second: 100, elapsed_s: 1 },
    ];
    const p = panels(renderCurves(one));
    expectMapsBack(p.get("loss (shared axis)")!, "train_loss", "circle", [[5, 1.5]]);
    expect(p.get("validation accuracy")).toMatch(/no data yet/);
  });
});
