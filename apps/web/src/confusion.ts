/** The confusion matrix as a table: rows are true classes, columns predictions, shaded by row share. */
export function renderConfusion(table: HTMLTableElement, confusion: number[][], classes: string[]): void {
  const short = (s: string) => (s.length > 9 ? `${s.slice(0, 8)}…` : s);
  const head = `<tr><th class="corner">true ↓ / predicted →</th>${classes.map((c) => `<th title="${c}">${short(c)}</th>`).join("")}</tr>`;
  const rows = confusion.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const cells = row.map((n, j) => {
      const share = n / total;
      const hue = i === j ? "140, 70%" : "5, 75%";
      return `<td style="background: hsla(${hue}, 45%, ${Math.min(0.9, share * 1.2).toFixed(3)})" title="${classes[i]} → ${classes[j]}: ${n}">${n}</td>`;
    });
    return `<tr><th title="${classes[i]}">${short(classes[i] ?? String(i))}</th>${cells.join("")}</tr>`;
  });
  table.innerHTML = head + rows.join("");
}
