/** Markdown rendering of benchmark cases. */
import type { BenchCase } from "./types.js";

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

export function renderTable(cases: BenchCase[]): string {
  const rows = [
    "| suite | case | ours (median) | min–max | unit | peer | peer median | ours/peer |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const c of cases) {
    rows.push(
      `| ${c.suite} | ${c.name} | ${fmt(c.median)} | ${fmt(c.min)}–${fmt(c.max)} | ${c.unit} | ${c.peer?.name ?? "—"} | ${c.peer ? fmt(c.peer.median) : "—"} | ${c.ratio !== undefined ? `${c.ratio.toFixed(2)}×` : "—"} |`,
    );
  }
  return rows.join("\n");
}
