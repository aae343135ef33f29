/** Markdown rendering of benchmark cases. */
import type { BenchCase } from "./types.js";

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A further column taken from `extra[key]`; `format` turns a number into its cell text. */
export interface ExtraColumn {
  key: string;
  label: string;
  format?: (v: number) => string;
}

export function renderTable(cases: BenchCase[], extraColumns: ExtraColumn[] = []): string {
  const extraHead = extraColumns.map((c) => ` ${c.label} |`).join("");
  const rows = [
    `| suite | case | ours (median) | min–max | unit | peer | peer median | ours/peer |${extraHead}`,
    `|---|---|---|---|---|---|---|---|${"---|".repeat(extraColumns.length)}`,
  ];
  for (const c of cases) {
    const extras = extraColumns
      .map((col) => {
        const v = c.extra?.[col.key];
        if (v === undefined) return " — |";
        return ` ${typeof v === "number" ? (col.format ?? fmt)(v) : v} |`;
      })
      .join("");
    if (c.skipped || c.failed) {
      const why = (c.skipped ? `skipped: ${c.skipped}` : `FAILED: ${c.failed}`).replace(/\|/g, "\\|");
      rows.push(`| ${c.suite} | ${c.name} | ${why} | — | ${c.unit} | — | — | — |${extras}`);
      continue;
    }
    const peers = [
      ...(c.peer ? [{ name: c.peer.name, median: c.peer.median, ratio: c.ratio }] : []),
      ...(c.morePeers ?? []).map((p) => ({ name: p.name, median: p.median, ratio: p.ratio })),
    ];
    const col = (f: (p: (typeof peers)[number]) => string) =>
      peers.length ? peers.map(f).join("<br>") : "—";
    rows.push(
      `| ${c.suite} | ${c.name} | ${fmt(c.median)} | ${fmt(c.min)}–${fmt(c.max)} | ${c.unit} | ${col((p) => p.name)} | ${col((p) => fmt(p.median))} | ${col((p) => (p.ratio !== undefined ? `${p.ratio.toFixed(2)}×` : "—"))} |${extras}`,
    );
  }
  return rows.join("\n");
}
