/** Markdown rendering of benchmark cases. */
import type { BenchCase } from "./types.js";

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

export function renderTable(cases: BenchCase[]): string {
  const rows = [
    "| suite | case | ours (median) | min–max | unit | peer | peer median | ours/peer |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const c of cases) {
    const peers = [
      ...(c.peer ? [{ name: c.peer.name, median: c.peer.median, ratio: c.ratio }] : []),
      ...(c.morePeers ?? []).map((p) => ({ name: p.name, median: p.median, ratio: p.ratio })),
    ];
    const col = (f: (p: (typeof peers)[number]) => string) =>
      peers.length ? peers.map(f).join("<br>") : "—";
    rows.push(
      `| ${c.suite} | ${c.name} | ${fmt(c.median)} | ${fmt(c.min)}–${fmt(c.max)} | ${c.unit} | ${col((p) => p.name)} | ${col((p) => fmt(p.median))} | ${col((p) => (p.ratio !== undefined ? `${p.ratio.toFixed(2)}×` : "—"))} |`,
    );
  }
  return rows.join("\n");
}
