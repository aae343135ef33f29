/**
 * Terminal progress. On a TTY: one live cli-progress MultiBar at the bottom of the screen (the training bar,
 * plus an evaluation bar while the test split runs) with every log line printed above it through
 * MultiBar.log, so nothing is left behind as frozen copies and nothing later overwrites earlier lines.
 * Otherwise (CI logs, pipes, --json): plain log lines only. Every logged record (train interval,
 * validation) becomes one line either way.
 */
import cliProgress from "cli-progress";

/** What a bar line shows besides the bar itself; `extra` pieces are dropped first when space runs out. */
interface BarPayload {
  label: string;
  unit: string;
  extra: string[];
}

const BAR_MIN = 10;
const BAR_MAX = 40;

/** Seconds as "42s", "3m04s" or "1h02m"; "?" while the rate is unknown. */
export function formatEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, "0")}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * One bar line that fits `width` columns (one spare, so the cursor never sits in the wrap column):
 * `train [████░░░░] 40/100 steps | loss 0.5321 | 812 img/s | eta 1m05s`. The bar shrinks to fit, then the
 * extra fields are dropped from the right; cli-progress would otherwise cut the line at the terminal edge.
 */
export function formatBarLine(
  width: number,
  value: number,
  total: number,
  eta: number,
  p: BarPayload,
): string {
  const budget = Math.max(20, width - 1);
  const count = `${value}/${total} ${p.unit}`;
  const tail = value >= total ? "" : `eta ${formatEta(eta)}`;
  const extra = [...p.extra];
  for (;;) {
    const fields = [count, ...extra, ...(tail ? [tail] : [])].join(" | ");
    const fixed = `${p.label} [] ${fields}`.length;
    const bar = Math.min(BAR_MAX, budget - fixed);
    if (bar >= BAR_MIN || extra.length === 0) {
      const n = Math.max(BAR_MIN, bar);
      const done = total > 0 ? Math.min(n, Math.round((value / total) * n)) : 0;
      return `${p.label} [${"█".repeat(done)}${"░".repeat(n - done)}] ${fields}`.slice(0, budget);
    }
    extra.pop();
  }
}

export class Progress {
  private multi: cliProgress.MultiBar | null = null;
  private trainBar: cliProgress.SingleBar | null = null;
  private evalBar: cliProgress.SingleBar | null = null;
  private last: Record<string, number | string> = {};

  constructor(
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  private get tty(): boolean {
    return this.enabled && !!this.stream.isTTY;
  }

  /** Ctrl-C / kill while the bars are up: put the cursor back and below them, then die of the signal as usual. */
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.stop();
    process.kill(process.pid, signal);
  };

  private bars(): cliProgress.MultiBar {
    if (!this.multi) {
      process.once("SIGINT", this.onSignal);
      process.once("SIGTERM", this.onSignal);
    }
    this.multi ??= new cliProgress.MultiBar({
      stream: this.stream,
      hideCursor: true,
      // Redraws come from the timer, and the training loop yields to it at every GPU wait.
      fps: 5,
      // A log line may have been written over a bar's line: draw every bar on every tick, changed or not.
      forceRedraw: true,
      // Keep the terminal's wrapping on: with it off (cli-progress's default) a log line longer than the
      // screen loses its end. The bars themselves are formatted to fit, so they never wrap.
      linewrap: true,
      format: (_o, params, payload: BarPayload) =>
        formatBarLine(params.maxWidth, params.value, params.total, params.eta, payload),
    });
    return this.multi;
  }

  /** After every optimizer step. */
  step(step: number, max: number): void {
    // A run bounded only by its time limit has no step total to draw a bar against.
    if (!this.tty || !Number.isFinite(max)) return;
    const payload: BarPayload = { label: "train", unit: "steps", extra: this.trainExtra() };
    if (!this.trainBar) this.trainBar = this.bars().create(max, step, payload);
    else this.trainBar.update(step, payload);
  }

  /** After every evaluation batch: `done` of `total` batches. The bar goes away when the split is done. */
  evalStep(done: number, total: number): void {
    if (!this.tty || total <= 0) return;
    if (!this.evalBar)
      this.evalBar = this.bars().create(total, done, { label: "eval ", unit: "batches", extra: [] });
    else this.evalBar.update(done);
    if (done >= total) {
      // Under the training bar it goes away; alone (vit eval) its final state stays on the screen.
      if (this.trainBar) this.multi?.remove(this.evalBar);
      else this.stop();
      this.evalBar = null;
    }
  }

  private trainExtra(): string[] {
    const { loss, images_per_second: ips } = this.last;
    return [
      typeof loss === "number" ? `loss ${loss.toFixed(4)}` : "loss -",
      typeof ips === "number" ? `${ips.toFixed(0)} img/s` : "- img/s",
    ];
  }

  record(r: Record<string, number | string>): void {
    if (r.kind === "train") {
      this.last = r;
      this.trainBar?.update({ extra: this.trainExtra() });
    }
    if (!this.enabled) return;
    const line =
      r.kind === "train"
        ? `step ${r.step} epoch ${r.epoch} loss ${(r.loss as number).toFixed(4)} lr ${(r.lr as number).toExponential(2)} grad_norm ${(r.grad_norm as number).toFixed(3)} ${(r.images_per_second as number).toFixed(0)} img/s`
        : `eval step ${r.step}: top-1 ${(100 * (r.val_top1 as number)).toFixed(2)}% top-5 ${(100 * (r.val_top5 as number)).toFixed(2)}% loss ${(r.val_loss as number).toFixed(4)}`;
    this.message(line);
  }

  /** Notes (checkpoint written, weights loaded) always go to stderr, above the bars; stdout stays for results. */
  message(m: string): void {
    if (this.multi) {
      // Each line clears what a bar drew there before the bars are redrawn below the logs.
      this.multi.log(
        `${m
          .split("\n")
          .map((l) => `\x1b[2K${l}`)
          .join("\n")}\n`,
      );
    } else this.stream.write(`${m}\n`);
  }

  /** Flushes pending log lines, draws the bars' final state once and leaves the cursor below them. */
  stop(): void {
    const multi = this.multi;
    if (!multi) return;
    this.multi = null;
    process.off("SIGINT", this.onSignal);
    process.off("SIGTERM", this.onSignal);
    if (this.evalBar && this.trainBar) multi.remove(this.evalBar);
    this.evalBar = null;
    this.trainBar = null;
    multi.update();
    multi.stop();
  }
}
