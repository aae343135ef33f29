/**
 * Fused softmax + cross-entropy per row (loss and log-sum-exp), and its backward (softmax − q)·g/B, with
 * q the label-smoothed target distribution: from i32 labels, or from f32 soft targets (mixup/cutmix).
 */
import { defineKernel } from "./kernel.js";
import { declareBindings, main1D } from "./wgsl.js";

export const CE_FIELDS = [
  ["rows", "u32"],
  ["c", "u32"],
  ["eps", "f32"],
  ["invB", "f32"],
  ["nanBits", "u32"],
] as const;

export interface CrossEntropyVariant {
  /** f32 soft targets [B, C] rather than i32 labels [B]. */
  soft: boolean;
}

/** q_c: the smoothed target probability of class j in row r. */
const q = (soft: boolean) =>
  soft
    ? "(1.0 - P.eps) * t[r * P.c + j] + P.eps / f32(P.c)"
    : "select(0.0, 1.0 - P.eps, i32(j) == t[r]) + P.eps / f32(P.c)";

export const crossEntropyKernel = defineKernel(
  "cross_entropy",
  ({ soft }: CrossEntropyVariant) => `${declareBindings(
    [
      { name: "z", type: "f32", access: "read" },
      { name: "t", type: soft ? "f32" : "i32", access: "read" },
      { name: "loss", type: "f32", access: "read_write" },
      { name: "lse", type: "f32", access: "read_write" },
    ],
    CE_FIELDS,
  )}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let r = idx; let base = r * P.c;
  ${soft ? "" : "if (t[r] < 0 || t[r] >= i32(P.c)) { loss[r] = bitcast<f32>(P.nanBits); lse[r] = 0.0; return; }"}
  var m = -3.402823e38;
  for (var j = 0u; j < P.c; j++) { m = max(m, z[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < P.c; j++) { s += exp(z[base + j] - m); }
  let l = m + log(s);
  var acc = 0.0;
  for (var j = 0u; j < P.c; j++) { acc += (${q(soft)}) * (l - z[base + j]); }
  loss[r] = acc; lse[r] = l;
}`,
);

export const crossEntropyBackwardKernel = defineKernel(
  "cross_entropy_backward",
  ({ soft }: CrossEntropyVariant) => `${declareBindings(
    [
      { name: "z", type: "f32", access: "read" },
      { name: "t", type: soft ? "f32" : "i32", access: "read" },
      { name: "lse", type: "f32", access: "read" },
      { name: "g", type: "f32", access: "read" },
      { name: "dz", type: "f32", access: "read_write" },
    ],
    CE_FIELDS,
  )}
${main1D()}
  if (idx >= P.rows * P.c) { return; }
  let r = idx / P.c; let j = idx % P.c;
  dz[idx] = (exp(z[idx] - lse[r]) - (${q(soft)})) * g[0] * P.invB;
}`,
);
