/**
 * dtype conversion. bf16 is packed two per u32, so the →bf16 kernel has each invocation write one whole
 * word (two values): WGSL has no 16-bit stores and no byte-level atomics.
 */
import type { DType } from "../dtype.js";
import { defineKernel } from "./kernel.js";
import { BF16_HELPERS, declareBindings, main1D, wgslType } from "./wgsl.js";

export const CAST_FIELDS = [["n", "u32"]] as const;

/**
 * f32 → f16 with IEEE overflow, as CUDA's __float2half_rn: WGSL leaves f16(v) undefined outside f16's range,
 * and fp16 training relies on an overflow becoming ±Inf (the loss scaler's signal to skip the step), never a
 * clamped or arbitrary finite value. NaN stays NaN. The tests are on the bits, which fast-math cannot fold.
 */
const F32_TO_F16 = `fn f32_to_f16(v: f32) -> f16 {
  let bits = bitcast<u32>(v);
  // The sign comes from the runtime value, so the compiler cannot const-fold (and reject) an f16 Inf/NaN.
  let sign = (bits >> 16u) & 0x8000u;
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return bitcast<vec2<f16>>(sign | 0x7e00u).x; }
  // 65520 and above round to Inf under round-to-nearest-even (65504 is the largest finite f16).
  if ((bits & 0x7fffffffu) >= 0x477ff000u) { return bitcast<vec2<f16>>(sign | 0x7c00u).x; }
  return f16(v);
}`;

function load(dtype: DType): string {
  switch (dtype) {
    case "bf16":
      return "bf16_load(x[i >> 1u], i)";
    case "f16":
    case "f32":
    case "i32":
    case "u32":
      return "f32(x[i])";
  }
}

export interface CastVariant {
  from: DType;
  to: DType;
}

export const castKernel = defineKernel("cast", ({ from, to }: CastVariant) => {
  const f16 = from === "f16" || to === "f16";
  const toBf16 = to === "bf16";
  let body: string;
  if (toBf16) {
    body = `let i0 = idx * 2u; let i1 = i0 + 1u;
  var lo = 0u; var hi = 0u;
  { let i = i0; lo = f32_to_bf16_bits(${load(from)}); }
  if (i1 < P.n) { let i = i1; hi = f32_to_bf16_bits(${load(from)}); }
  out[idx] = lo | (hi << 16u);`;
  } else {
    const conv =
      to === "i32"
        ? "i32(round(v))"
        : to === "u32"
          ? "u32(max(round(v), 0.0))"
          : to === "f16" && from !== "f16"
            ? "f32_to_f16(v)"
            : `${wgslType(to)}(v)`;
    body = `let i = idx; let v = ${load(from)};
  out[idx] = ${from === "i32" && to === "f32" ? "f32(x[i])" : conv};`;
  }
  return `${f16 ? "enable f16;" : ""}
${declareBindings(
  [
    { name: "x", type: wgslType(from), access: "read" },
    { name: "out", type: wgslType(to), access: "read_write" },
  ],
  CAST_FIELDS,
)}
${BF16_HELPERS}
${to === "f16" ? F32_TO_F16 : ""}
${main1D()}
  if (idx >= ${toBf16 ? "(P.n + 1u) / 2u" : "P.n"}) { return; }
  ${body}
}`;
});
