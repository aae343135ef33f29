/** The live training chart: loss (left axis) and batch accuracy (right axis, %) against the step (uPlot). */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export class TrainingChart {
  private readonly data: [number[], number[], number[]] = [[], [], []];
  private readonly plot: uPlot;

  constructor(el: HTMLElement) {
    this.plot = new uPlot(
      {
        width: Math.max(320, el.clientWidth || 640),
        height: 240,
        scales: { x: { time: false }, acc: { range: [0, 100] } },
        axes: [
          { label: "step" },
          { label: "loss", scale: "y" },
          { label: "accuracy %", scale: "acc", side: 1, grid: { show: false } },
        ],
        series: [
          { label: "step" },
          {
            label: "loss",
            stroke: "#d9480f",
            width: 2,
            scale: "y",
            value: (_u, v) => (v == null ? "–" : v.toFixed(4)),
          },
          {
            label: "batch accuracy",
            stroke: "#1971c2",
            width: 2,
            scale: "acc",
            value: (_u, v) => (v == null ? "–" : `${v.toFixed(1)}%`),
          },
        ],
      },
      this.data,
      el,
    );
    new ResizeObserver(() =>
      this.plot.setSize({ width: Math.max(320, el.clientWidth), height: 240 }),
    ).observe(el);
  }

  add(step: number, loss: number, accuracy: number): void {
    this.data[0].push(step);
    this.data[1].push(loss);
    this.data[2].push(accuracy * 100);
    this.plot.setData(this.data);
  }

  clear(): void {
    for (const s of this.data) s.length = 0;
    this.plot.setData(this.data);
  }
}
