/**
 * Softmax over the last axis (one invocation per row, max-subtracted, f32 arithmetic whatever the storage)
 * and its backward. Storage f32 or f16; bf16 rows may straddle u32 words, so ops/softmax.ts widens them.
 */
import type { DType } from "../dtype.js";
import { defineKernel } from "./kernel.js";
import { declareBindings, main1D, wgslType } from "./wgsl.js";

export const SOFTMAX_FIELDS = [
  ["rows", "u32"],
  ["d", "u32"],
] as const;

export interface SoftmaxVariant {
  dtype: DType;
}

export const softmaxKernel = defineKernel("softmax", ({ dtype }: SoftmaxVariant) => {
  const ty = wgslType(dtype);
  return `${dtype === "f16" ? "enable f16;" : ""}
${declareBindings(
  [
    { name: "x", type: ty, access: "read" },
    { name: "y", type: ty, access: "read_write" },
  ],
  SOFTMAX_FIELDS,
)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.d;
  var m = -3.402823e38;
  for (var j = 0u; j < P.d; j++) { m = max(m, f32(x[base + j])); }
  var s = 0.0;
  for (var j = 0u; j < P.d; j++) { s += exp(f32(x[base + j]) - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < P.d; j++) { y[base + j] = ${ty}(exp(f32(x[base + j]) - m) * inv); }
}`;
});

export interface SoftmaxBackwardVariant {
  /** The saved output's storage (f32 or f16). */
  y: DType;
  /** The incoming gradient's storage (f32 or y's type). */
  g: DType;
}

/** dx = y ⊙ (g − Σ g⊙y) per row, in f32 whatever y and g are stored in (gradients flow in f32). */
export const softmaxBackwardKernel = defineKernel("softmax_backward", (v: SoftmaxBackwardVariant) => {
  return `${v.y === "f16" || v.g === "f16" ? "enable f16;" : ""}
${declareBindings(
  [
    { name: "y", type: wgslType(v.y), access: "read" },
    { name: "g", type: wgslType(v.g), access: "read" },
    { name: "dx", type: "f32", access: "read_write" },
  ],
  SOFTMAX_FIELDS,
)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.d;
  var dot = 0.0;
  for (var j = 0u; j < P.d; j++) { dot += f32(g[base + j]) * f32(y[base + j]); }
  for (var j = 0u; j < P.d; j++) { dx[base + j] = f32(y[base + j]) * (f32(g[base + j]) - dot); }
}`;
});
