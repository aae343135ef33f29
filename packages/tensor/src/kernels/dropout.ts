/** Dropout's mask-and-scale: keep where philox_uniform(seed, offset, i) ≥ p, scaled by 1/(1−p). */
import type { DType } from "../dtype.js";
import { defineKernel } from "./kernel.js";
import { PHILOX_WGSL } from "./philox.js";
import { declareBindings, main1D, wgslType } from "./wgsl.js";

export const DROPOUT_FIELDS = [
  ["n", "u32"],
  ["p", "f32"],
  ["scale", "f32"],
  ["seed", "u32"],
  ["offset", "u32"],
] as const;

export interface DropoutVariant {
  dtype: DType;
}

export const dropoutKernel = defineKernel("dropout", ({ dtype }: DropoutVariant) => {
  const ty = wgslType(dtype);
  return `${dtype === "f16" ? "enable f16;" : ""}
${declareBindings(
  [
    { name: "x", type: ty, access: "read" },
    { name: "y", type: ty, access: "read_write" },
  ],
  DROPOUT_FIELDS,
)}
${PHILOX_WGSL}
${main1D()}
  if (idx >= P.n) { return; }
  let keep = philox_uniform(P.seed, P.offset, idx) >= P.p;
  y[idx] = ${ty}(select(0.0, f32(x[idx]) * P.scale, keep));
}`;
});
