/**
 * Learning-rate schedules, pure functions of the step, using NeMo's keys: CosineAnnealing
 * (warmup_steps, min_lr, max_steps, constant_steps; linear warmup from 0, cosine to min_lr, then min_lr
 * held), constant, step (×gamma every step_size). Computed on the host each step and passed to the update
 * kernels as uniforms.
 *
 * constant_steps is NeMo's WarmupAnnealHoldPolicy: the cosine runs over
 * decay_steps = max_steps − warmup_steps − constant_steps and the last constant_steps steps stay at min_lr.
 */
export type ScheduleConfig =
  | {
      name: "CosineAnnealing";
      warmup_steps?: number;
      warmup_ratio?: number;
      min_lr?: number;
      max_steps: number;
      constant_steps?: number;
    }
  | { name: "Constant"; warmup_steps?: number }
  | { name: "StepLR"; step_size: number; gamma?: number; warmup_steps?: number };

export function lrAt(step: number, baseLr: number, s: ScheduleConfig): number {
  const warm =
    "warmup_ratio" in s && s.warmup_ratio !== undefined && s.name === "CosineAnnealing"
      ? Math.round(s.warmup_ratio * s.max_steps)
      : (s.warmup_steps ?? 0);
  if (warm > 0 && step < warm) return (baseLr * (step + 1)) / warm;
  switch (s.name) {
    case "Constant":
      return baseLr;
    case "StepLR":
      return baseLr * (s.gamma ?? 0.1) ** Math.floor((step - warm) / s.step_size);
    case "CosineAnnealing": {
      const minLr = s.min_lr ?? 0;
      const total = Math.max(1, s.max_steps - warm - (s.constant_steps ?? 0));
      const t = Math.min(1, Math.max(0, (step - warm) / total));
      return minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos(Math.PI * t));
    }
  }
}
