/**
 * NeMo's dynamic loss scaler for fp16 training (precision 16: `native_amp_init_scale`,
 * `native_amp_growth_interval`, `hysteresis`; nemo/collections/nlp/parts/nlp_overrides.py GradScaler, whose
 * rule Apex's update_scale_hysteresis kernel also implements). The loss is multiplied by S before backward so
 * that small gradients survive f16; the optimizer step divides by S again. On an inf/NaN gradient the step
 * is skipped and the hysteresis counter drops; when it reaches 0, S is halved (not below min_scale). A good
 * step resets the hysteresis counter and, after growth_interval of them in a row, doubles S.
 *
 * The state lives on the GPU and is updated there, by the same one-invocation kernel that turns the
 * gradient norm into the clip coefficient (GradNorm): the overflow test is the sum of squares of the scaled
 * gradients being non-finite, and the optimizer kernels read the skip flag, so a step needs no readback.
 * The host learns of skips when it reads the state (log lines, checkpoints).
 */
import { type Device, Tensor, keep } from "@vit/tensor";

export interface LossScalerOptions {
  /** S at the start (NeMo native_amp_init_scale, default 2^32). */
  initScale?: number;
  /** Good steps in a row before S doubles (native_amp_growth_interval, default 1000). */
  growthInterval?: number;
  /** Overflowing steps before S halves (hysteresis, default 2). */
  hysteresis?: number;
  /** S never drops below this (default 1, as Megatron's min_scale). */
  minScale?: number;
}

export interface LossScalerState {
  scale: number;
  growthTracker: number;
  hysteresisTracker: number;
  /** Steps applied (not skipped) so far: Adam's bias correction counts only these, as PyTorch's does. */
  goodSteps: number;
  skippedSteps: number;
}

/** The update rule on the host: the specification the GPU kernel is tested against. */
export function nextScalerState(
  s: LossScalerState,
  foundInf: boolean,
  o: Required<LossScalerOptions>,
): LossScalerState {
  const n = { ...s };
  if (foundInf) {
    n.skippedSteps++;
    n.hysteresisTracker--;
    if (n.hysteresisTracker > 0) {
      n.growthTracker = 0;
      return n;
    }
    n.scale = Math.max(n.scale * 0.5, o.minScale);
    n.growthTracker = 0;
    return n;
  }
  n.goodSteps++;
  n.growthTracker++;
  if (n.growthTracker === o.growthInterval) {
    const grown = Math.fround(n.scale * 2);
    if (Number.isFinite(grown)) n.scale = grown;
    n.growthTracker = 0;
  }
  n.hysteresisTracker = o.hysteresis;
  return n;
}

export class LossScaler {
  readonly opts: Required<LossScalerOptions>;
  /** [1] f32: S. Multiply the loss by it before backward. */
  readonly scale: Tensor;
  /** [4] f32: growth tracker, hysteresis tracker, good steps, skipped steps (exact integers below 2^24). */
  readonly state: Tensor;

  constructor(
    readonly device: Device,
    opts: LossScalerOptions = {},
  ) {
    this.opts = {
      initScale: opts.initScale ?? 2 ** 32,
      growthInterval: opts.growthInterval ?? 1000,
      hysteresis: opts.hysteresis ?? 2,
      minScale: opts.minScale ?? 1,
    };
    for (const [k, v] of Object.entries(this.opts)) {
      if (!(v > 0) || !Number.isFinite(v))
        throw new RangeError(`LossScaler: ${k} must be a positive number, got ${v}.`);
    }
    this.scale = keep(new Tensor(device, [1], "f32"));
    this.state = keep(new Tensor(device, [4], "f32"));
    this.load({
      scale: this.opts.initScale,
      growthTracker: 0,
      hysteresisTracker: this.opts.hysteresis,
      goodSteps: 0,
      skippedSteps: 0,
    });
  }

  load(s: LossScalerState): void {
    this.device.upload(this.scale.buffer, Float32Array.from([s.scale]));
    this.device.upload(
      this.state.buffer,
      Float32Array.from([s.growthTracker, s.hysteresisTracker, s.goodSteps, s.skippedSteps]),
    );
  }

  /** The current state (a sync point: call at log or checkpoint time, not every step). */
  async read(): Promise<LossScalerState> {
    const [scale] = await this.scale.data();
    const [growthTracker, hysteresisTracker, goodSteps, skippedSteps] = await this.state.data();
    return {
      scale: scale!,
      growthTracker: growthTracker!,
      hysteresisTracker: hysteresisTracker!,
      goodSteps: goodSteps!,
      skippedSteps: skippedSteps!,
    };
  }

  /** Checkpoint tensors (f32; uploaded back as they are on resume). */
  stateTensors(): Record<string, Tensor> {
    return { "loss_scaler.scale": this.scale, "loss_scaler.state": this.state };
  }

  /**
   * WGSL statements for GradNorm's coefficient kernel: given `bad` (the overflow flag) they update `scale`
   * and `st` (bound as read_write f32 arrays) by nextScalerState's rule.
   */
  updateWGSL(): string {
    const o = this.opts;
    return `if (bad) {
    st[3] = st[3] + 1.0;
    st[1] = st[1] - 1.0;
    st[0] = 0.0;
    if (st[1] <= 0.0) { scale[0] = max(scale[0] * 0.5, ${f32(o.minScale)}); }
  } else {
    st[2] = st[2] + 1.0;
    st[0] = st[0] + 1.0;
    if (st[0] == ${f32(o.growthInterval)}) {
      let grown = scale[0] * 2.0;
      // Never grow to Inf (bit test: fast-math may fold isinf-style comparisons).
      if ((bitcast<u32>(grown) & 0x7f800000u) != 0x7f800000u) { scale[0] = grown; }
      st[0] = 0.0;
    }
    st[1] = ${f32(o.hysteresis)};
  }`;
  }

  dispose(): void {
    this.scale.dispose();
    this.state.dispose();
  }
}

function f32(v: number): string {
  return Number.isInteger(v) ? `${v}.0` : `${v}`;
}
