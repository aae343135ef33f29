/**
 * The training log between log lines: the micro-batch losses are summed on the GPU (the loop never reads
 * back between logs), images and wall time are counted per interval, and each log line reads the sum back
 * once, averages it over the data-parallel replicas and adds the grad norm, throughput and loss scale.
 * Also the run's training time and images (validation and checkpoints excluded), for its throughput.
 */
import type { LossScaler } from "@vit/optim";
import { type Device, type Tensor, add, keep, noGrad, zeros } from "@vit/tensor";
import type { TrainOptimizer } from "./build.js";
import { divergedError } from "./run-errors.js";
import type { Strategy } from "./strategies/strategy.js";

export class TrainLog {
  private running: Tensor;
  private count = 0;
  private intervalStart = performance.now();
  private intervalImages = 0;
  /** Images trained on and seconds spent training (validation and checkpoints excluded), over the run. */
  trainImages = 0;
  trainSeconds = 0;

  constructor(
    private readonly device: Device,
    private readonly strategy: Strategy,
    /** performance.now() when fit() started (elapsed_s counts from it). */
    readonly t0: number,
  ) {
    this.running = keep(zeros(device, [1]));
  }

  /** A micro-batch of `n` images was read into this interval. */
  addImages(n: number): void {
    this.intervalImages += n;
  }

  /** Adds a step's micro-batch losses to the running sum, and disposes them. */
  addLosses(losses: readonly Tensor[]): void {
    for (const loss of losses) {
      const next = noGrad(() => add(this.running, loss));
      this.running.dispose();
      loss.dispose();
      this.running = keep(next);
      this.count++;
    }
  }

  /** The interval starts now: time spent outside training (validation, a checkpoint, the log) is not its. */
  restart(): void {
    this.intervalStart = performance.now();
  }

  /**
   * Ends the interval and returns its log line: the mean loss over the replicas (one readback, one host
   * all-reduce), the grad norm, throughput, and under fp16 the loss scale (the host learns of skipped steps
   * here, not per step). A non-finite loss stops the run, naming `lastCheckpoint`.
   */
  async write(
    at: { step: number; epoch: number; lr: number },
    optimizer: TrainOptimizer,
    scaler: LossScaler | null,
    lastCheckpoint: string | null,
  ): Promise<Record<string, number | string>> {
    const loss = await this.strategy.reduceMean((await this.running.data())[0]! / this.count);
    const now = performance.now();
    const dt = (now - this.intervalStart) / 1000;
    this.trainSeconds += dt;
    this.trainImages += this.intervalImages;
    if (!Number.isFinite(loss)) {
      const what = `training loss became ${loss} at step ${at.step} (lr ${at.lr.toExponential(3)})`;
      throw divergedError(what, lastCheckpoint);
    }
    const sc = scaler ? await scaler.read() : null;
    const rec = {
      kind: "train",
      step: at.step,
      epoch: at.epoch,
      loss,
      lr: at.lr,
      grad_norm: await this.strategy.lastGradNorm(optimizer),
      images_per_second: this.intervalImages / dt,
      elapsed_s: (now - this.t0) / 1000,
      ...(sc ? { loss_scale: sc.scale, skipped_steps: sc.skippedSteps } : {}),
    };
    this.running.dispose();
    this.running = keep(zeros(this.device, [1]));
    this.count = 0;
    this.intervalImages = 0;
    return rec;
  }

  dispose(): void {
    this.running.dispose();
  }
}
