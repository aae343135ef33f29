/**
 * Global gradient norm and clipping without a readback: per-parameter sums of squares land in one
 * small GPU buffer, a one-invocation kernel turns them into the clip coefficient min(1, max/‖g‖), and
 * the optimizer kernels read that coefficient from the buffer. The norm itself is read only when asked.
 */
import { type Device, Tensor, declareBindings, defineKernel, grid1D, main1D } from "@vit/tensor";
import type { LossScaler } from "./loss-scaler.js";

const SQ_FIELDS = [
  ["n", "u32"],
  ["slot", "u32"],
] as const;
const COEF_FIELDS = [
  ["count", "u32"],
  ["maxNorm", "f32"],
] as const;

const gradSqSumKernel = defineKernel(
  "grad_sq_sum",
  (_: Record<string, never>) => `${declareBindings(
    [
      { name: "g", type: "f32", access: "read" },
      { name: "out", type: "f32", access: "read_write" },
    ],
    SQ_FIELDS,
  )}
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3u) {
  // One workgroup strides over the whole tensor; tree-reduce in shared memory (deterministic order).
  var s = 0.0;
  for (var i = lid.x; i < P.n; i += 256u) { let v = g[i]; s += v * v; }
  part[lid.x] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w >> 1u) {
    if (lid.x < w) { part[lid.x] += part[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { out[P.slot] = part[0]; }
}`,
);

/**
 * The clip coefficient from the partial sums. `scalerUpdate` (LossScaler.updateWGSL, or null without a
 * loss scaler) is spliced in after the overflow test.
 */
const clipCoefKernel = defineKernel("grad_clip_coef", ({ scalerUpdate }: { scalerUpdate: string | null }) => {
  const bindings = [
    { name: "part", type: "f32", access: "read" } as const,
    { name: "coef", type: "f32", access: "read_write" } as const,
    ...(scalerUpdate !== null
      ? [
          { name: "scale", type: "f32", access: "read_write" } as const,
          { name: "st", type: "f32", access: "read_write" } as const,
        ]
      : []),
  ];
  return `${declareBindings(bindings, COEF_FIELDS)}
${main1D(1)}
  if (idx > 0u) { return; }
  var s = 0.0;
  for (var i = 0u; i < P.count; i++) { s += part[i]; }
  ${
    scalerUpdate !== null
      ? `// Overflow: the scaled gradients' sum of squares is Inf or NaN (a bit test, safe under fast-math).
  let bad = (bitcast<u32>(s) & 0x7f800000u) == 0x7f800000u;
  let inv = 1.0 / scale[0];
  let norm = sqrt(s) * inv;
  coef[0] = select(1.0, min(1.0, P.maxNorm / (norm + 1e-6)), P.maxNorm > 0.0) * inv;
  coef[1] = norm;
  coef[2] = select(0.0, 1.0, bad);
  ${scalerUpdate}
  coef[3] = st[2];`
      : `let norm = sqrt(s);
  coef[1] = norm;
  coef[0] = select(1.0, min(1.0, P.maxNorm / (norm + 1e-6)), P.maxNorm > 0.0);
  coef[2] = 0.0;`
  }
}`;
});

export class GradNorm {
  /** [count] partial sums of squares. */
  readonly partial: Tensor;
  /**
   * [4]: the coefficient the optimizer multiplies gradients by (clip / loss scale), the global norm (of the
   * unscaled gradients), the skip flag (1: a loss-scaled step overflowed; the update kernels return), and
   * with a loss scaler the number of applied steps (Adam's bias correction).
   */
  readonly coef: Tensor;
  private skipped = false;

  constructor(
    readonly device: Device,
    readonly count: number,
  ) {
    this.partial = new Tensor(device, [Math.max(1, count)], "f32");
    this.coef = new Tensor(device, [4], "f32");
  }

  /**
   * Records the kernels computing ‖g‖ over `grads` and the coefficient for `maxNorm` (0 = no clip). With a
   * loss scaler the gradients are scaled: the norm and the coefficient are unscaled, and the same kernel
   * detects the overflow and updates the scaler.
   */
  compute(grads: Tensor[], maxNorm: number, scaler?: LossScaler): void {
    this.skipped = false;
    grads.forEach((g, slot) => {
      this.device.run({
        name: "grad_sq_sum",
        kernel: gradSqSumKernel,
        variant: {},
        buffers: [g.buffer, this.partial.buffer],
        uniforms: { fields: SQ_FIELDS, values: [g.numel, slot] },
        workgroups: [1],
      });
    });
    this.coefficient(grads.length, maxNorm, scaler);
  }

  /**
   * The same from a sum of squares computed elsewhere (the distributed optimizer's, all-reduced over the
   * ranks, so that every rank agrees on an overflow): uploaded, not read back.
   */
  fromSumOfSquares(sumSq: number, maxNorm: number, scaler?: LossScaler): void {
    this.skipped = false;
    this.device.upload(this.partial.buffer, Float32Array.from([sumSq]));
    this.coefficient(1, maxNorm, scaler);
  }

  private coefficient(count: number, maxNorm: number, scaler?: LossScaler): void {
    this.device.run({
      name: "grad_clip_coef",
      kernel: clipCoefKernel,
      variant: { scalerUpdate: scaler ? scaler.updateWGSL() : null },
      buffers: [
        this.partial.buffer,
        this.coef.buffer,
        ...(scaler ? [scaler.scale.buffer, scaler.state.buffer] : []),
      ],
      uniforms: { fields: COEF_FIELDS, values: [count, maxNorm] },
      workgroups: grid1D(1, 1),
    });
  }

  /** No clipping and no norm this step: coefficient 1, norm unknown (NaN). Uploads only on a change. */
  skip(): void {
    if (this.skipped) return;
    this.device.upload(this.coef.buffer, Float32Array.from([1, Number.NaN, 0, 0]));
    this.skipped = true;
  }

  /** Reads the last computed global norm, NaN when the last step skipped it (a sync point). */
  async norm(): Promise<number> {
    return (await this.coef.data())[1]!;
  }

  dispose(): void {
    this.partial.dispose();
    this.coef.dispose();
  }
}
