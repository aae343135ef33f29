/**
 * Filling a tensor: a constant, or draws from the device's Philox stream (uniform, normal, or a normal
 * truncated to [Φ⁻¹(value), Φ⁻¹(hi)] by the inverse CDF: one draw per element, no rejection loop).
 */
import type { DType } from "../dtype.js";
import { defineKernel } from "./kernel.js";
import { PHILOX_WGSL } from "./philox.js";
import { declareBindings, main1D, wgslType } from "./wgsl.js";

export const FILL_FIELDS = [
  ["n", "u32"],
  ["value", "f32"],
  ["seed", "u32"],
  ["offset", "u32"],
  ["a", "f32"],
  ["b", "f32"],
  ["hi", "f32"],
] as const;

export type FillKind = "const" | "uniform" | "normal" | "truncnormal";

/** Giles' single-precision erfinv ("Approximating the erfinv function", GPU Computing Gems, 2011). */
const ERFINV_WGSL = `
fn erfinv_(x: f32) -> f32 {
  var w = -log((1.0 - x) * (1.0 + x));
  var p: f32;
  if (w < 5.0) {
    w = w - 2.5;
    p = 2.81022636e-08; p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w; p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257; p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w; p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  return p * x;
}`;

export interface FillVariant {
  kind: FillKind;
  dtype: DType;
}

export const fillKernel = defineKernel("fill", ({ kind, dtype }: FillVariant) => {
  const ty = wgslType(dtype);
  const expr =
    kind === "const"
      ? "P.value"
      : kind === "uniform"
        ? "P.a + (P.b - P.a) * philox_uniform(P.seed, P.offset, idx)"
        : kind === "normal"
          ? "P.a + P.b * philox_normal(P.seed, P.offset, idx)"
          : // Inverse CDF on [Φ(lo), Φ(hi)]: exact truncation, one draw per element (no rejection loop).
            "P.a + P.b * 1.4142135623730951 * erfinv_(2.0 * (P.value + (P.hi - P.value) * philox_uniform(P.seed, P.offset, idx)) - 1.0)";
  return `${dtype === "f16" ? "enable f16;" : ""}
${declareBindings([{ name: "out", type: ty, access: "read_write" }], FILL_FIELDS)}
${kind === "const" ? "" : PHILOX_WGSL}
${kind === "truncnormal" ? ERFINV_WGSL : ""}
${main1D()}
  if (idx >= P.n) { return; }
  out[idx] = ${ty}(${expr});
}`;
});
