/**
 * dtype conversion. bf16 is packed two per u32, so the f32→bf16 kernel has each invocation write one
 * whole word (two values): WGSL has no 16-bit stores and no byte-level atomics.
 */
import { needsGrad, record } from "../autograd.js";
import type { DType } from "../dtype.js";
import { DTypeError } from "../errors.js";
import { checkDType, sameDevice } from "../checks.js";
import { BF16_HELPERS, declareBindings, grid1D, main1D, wgslType } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";

const FIELDS = [["n", "u32"]] as const;

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

function castKernel(x: Tensor, to: DType): Tensor {
  const device = sameDevice("cast", x);
  checkDType(device, to, "cast");
  const out = new Tensor(device, x.shape, to);
  const from = x.dtype;
  const f16 = from === "f16" || to === "f16";
  const toBf16 = to === "bf16";
  const n = toBf16 ? Math.ceil(x.numel / 2) : x.numel;
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
  device.run({
    name: `cast_${from}_${to}`,
    key: `cast|${from}|${to}`,
    code: () => `${f16 ? "enable f16;" : ""}
${declareBindings(
  [
    { name: "x", type: wgslType(from), access: "read" },
    { name: "out", type: wgslType(to), access: "read_write" },
  ],
  FIELDS,
)}
${BF16_HELPERS}
${to === "f16" ? F32_TO_F16 : ""}
${main1D()}
  if (idx >= ${toBf16 ? "(P.n + 1u) / 2u" : "P.n"}) { return; }
  ${body}
}`,
    buffers: [x.buffer, out.buffer],
    uniforms: { fields: FIELDS, values: [x.numel] },
    workgroups: grid1D(n),
  });
  return out;
}

/** Converts to `dtype`. Float→int rounds to nearest. Differentiable between float dtypes. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) {
    throw new DTypeError(`cast: ${x.describe()} is already ${dtype}; use clone() for a copy.`);
  }
  const y = castKernel(x, dtype);
  const isF = (d: DType) => d === "f32" || d === "f16" || d === "bf16";
  if (needsGrad(x) && isF(x.dtype) && isF(dtype)) {
    record(y, { name: "cast", inputs: [x], backward: (g) => [castKernel(g, x.dtype)] });
  }
  return y;
}
