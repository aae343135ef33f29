/**
 * Terminal progress: a cli-progress bar on a TTY, plain log lines otherwise (CI logs, pipes). Every
 * logged record (train interval, validation) becomes one line either way.
 */
import cliProgress from "cli-progress";

export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private started = false;
  private last: Record<string, number | string> = {};

  constructor(private readonly enabled: boolean) {}

  private get tty(): boolean {
    return this.enabled && !!process.stderr.isTTY;
  }

  step(step: number, max: number): void {
    // A run bounded only by its time limit has no step total to draw a bar against.
    if (!this.tty || !Number.isFinite(max)) return;
    if (!this.started) {
      this.bar = new cliProgress.SingleBar(
        { format: "train |{bar}| {value}/{total} steps | loss {loss} | {ips} img/s | eta {eta_formatted}", stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(max, step, { loss: "-", ips: "-" });
      this.started = true;
    }
    this.bar?.update(step, {
      loss: typeof this.last.loss === "number" ? this.last.loss.toFixed(4) : "-",
      ips: typeof this.last.images_per_second === "number" ? this.last.images_per_second.toFixed(0) : "-",
    });
  }

  record(r: Record<string, number | string>): void {
    if (r.kind === "train") this.last = r;
    if (!this.enabled) return;
    const line =
      r.kind === "train"
        ? `step ${r.step} epoch ${r.epoch} loss ${(r.loss as number).toFixed(4)} lr ${(r.lr as number).toExponential(2)} grad_norm ${(r.grad_norm as number).toFixed(3)} ${(r.images_per_second as number).toFixed(0)} img/s`
        : `eval step ${r.step}: top-1 ${(100 * (r.val_top1 as number)).toFixed(2)}% top-5 ${(100 * (r.val_top5 as number)).toFixed(2)}% loss ${(r.val_loss as number).toFixed(4)}`;
    this.message(line);
  }

  /** Notes (checkpoint written, weights loaded) always go to stderr; stdout stays for results. */
  message(m: string): void {
    if (this.bar) process.stderr.write("\n");
    console.error(m);
  }

  stop(): void {
    this.bar?.stop();
  }
}
