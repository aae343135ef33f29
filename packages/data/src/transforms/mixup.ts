import { ConfigError } from "../errors.js";
import type { Rng } from "../rng.js";

/** Batch-level mixing, with timm's Mixup semantics (mode "batch"). */
export interface MixupOptions {
  /** Beta(α, α) for mixup; 0 disables mixup. Default 0.8 (DeiT). */
  mixupAlpha?: number;
  /** Beta(α, α) for cutmix; 0 disables cutmix. Default 1.0 (DeiT). */
  cutmixAlpha?: number;
  /** Probability that a batch is mixed at all. Default 1. */
  prob?: number;
  /** When both are enabled, probability of cutmix rather than mixup. Default 0.5. */
  switchProb?: number;
}

/** What was done to a batch; lam is the weight of the original image (after cutmix's area correction). */
export interface MixInfo {
  lam: number;
  mode: "none" | "mixup" | "cutmix";
  /** Cutmix box [y0, y1, x0, x1) pasted from the reversed batch. */
  box?: [number, number, number, number];
}

export function validateMixup(m: MixupOptions): Required<MixupOptions> {
  const r = {
    mixupAlpha: m.mixupAlpha ?? 0.8,
    cutmixAlpha: m.cutmixAlpha ?? 1.0,
    prob: m.prob ?? 1,
    switchProb: m.switchProb ?? 0.5,
  };
  if (r.mixupAlpha < 0 || r.cutmixAlpha < 0 || r.mixupAlpha + r.cutmixAlpha === 0) {
    throw new ConfigError(
      "mixup: both alphas are 0 or one is negative",
      "set mixupAlpha and/or cutmixAlpha > 0",
    );
  }
  return r;
}

/**
 * Mixes a float NCHW batch in place with its reverse (sample i with sample B−1−i), as timm does, and
 * returns the mixing it applied. Cutmix's λ is corrected to the exact pasted area.
 */
export function mixBatch(
  images: Float32Array,
  shape: readonly [number, number, number, number],
  opts: Required<MixupOptions>,
  rng: Rng,
): MixInfo {
  const [B, C, H, W] = shape;
  if (rng.next() >= opts.prob) return { lam: 1, mode: "none" };
  let cutmix: boolean;
  if (opts.mixupAlpha > 0 && opts.cutmixAlpha > 0) cutmix = rng.next() < opts.switchProb;
  else cutmix = opts.cutmixAlpha > 0;
  const alpha = cutmix ? opts.cutmixAlpha : opts.mixupAlpha;
  let lam = rng.beta(alpha, alpha);
  const per = C * H * W;
  const orig = images.slice();
  if (!cutmix) {
    for (let i = 0; i < B; i++) {
      const a = i * per;
      const b = (B - 1 - i) * per;
      for (let k = 0; k < per; k++) images[a + k] = lam * orig[a + k]! + (1 - lam) * orig[b + k]!;
    }
    return { lam, mode: "mixup" };
  }
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.trunc(H * ratio);
  const cutW = Math.trunc(W * ratio);
  const cy = rng.int(H);
  const cx = rng.int(W);
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const y0 = clamp(cy - Math.floor(cutH / 2), H);
  const y1 = clamp(cy + Math.floor(cutH / 2), H);
  const x0 = clamp(cx - Math.floor(cutW / 2), W);
  const x1 = clamp(cx + Math.floor(cutW / 2), W);
  for (let i = 0; i < B; i++) {
    const j = B - 1 - i;
    for (let c = 0; c < C; c++) {
      for (let y = y0; y < y1; y++) {
        const row = c * H * W + y * W;
        for (let x = x0; x < x1; x++) images[i * per + row + x] = orig[j * per + row + x]!;
      }
    }
  }
  lam = 1 - ((y1 - y0) * (x1 - x0)) / (H * W);
  return { lam, mode: "cutmix", box: [y0, y1, x0, x1] };
}

/**
 * Soft targets [B, numClasses]: smoothed one-hot of each label (off = s/K, on = 1 − s + s/K), mixed with
 * the reversed batch's targets by λ.
 */
export function softTargets(
  labels: Int32Array,
  numClasses: number,
  smoothing: number,
  lam: number,
): Float32Array {
  const B = labels.length;
  const off = smoothing / numClasses;
  const on = 1 - smoothing + off;
  const t = new Float32Array(B * numClasses);
  for (let i = 0; i < B; i++) {
    const row = i * numClasses;
    for (let k = 0; k < numClasses; k++) t[row + k] = off;
    t[row + labels[i]!]! += lam * (on - off);
    t[row + labels[B - 1 - i]!]! += (1 - lam) * (on - off);
  }
  return t;
}
