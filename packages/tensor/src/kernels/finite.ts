/**
 * Counting NaN/±Inf in one tensor into slot P.slot of a counts buffer: one workgroup strides over the
 * words, then tree-reduces its 256 partial counts. The test is on the bits (all exponent bits set), not
 * `v != v`, which a shader compiler may fold away under fast-math assumptions.
 */
import { defineKernel } from "./kernel.js";
import { declareBindings } from "./wgsl.js";

export const FINITE_FIELDS = [
  ["words", "u32"],
  ["lastMask", "u32"],
  ["slot", "u32"],
] as const;

export interface CountNonFiniteVariant {
  /** The float dtype the u32 words hold (f16 and bf16: two elements per word). */
  dtype: "f32" | "f16" | "bf16";
}

/** Exponent mask of one element. */
const EXPONENT = { f32: 0x7f800000, f16: 0x7c00, bf16: 0x7f80 } as const;

export const countNonFiniteKernel = defineKernel("count_non_finite", ({ dtype }: CountNonFiniteVariant) => {
  const mask = EXPONENT[dtype];
  const bad =
    dtype === "f32"
      ? `return select(0u, 1u, (w & ${mask}u) == ${mask}u);`
      : `let lo = select(0u, 1u, (w & ${mask}u) == ${mask}u);
  let hi = select(0u, 1u, ((w >> 16u) & ${mask}u) == ${mask}u);
  return lo + hi;`;
  return `${declareBindings(
    [
      { name: "x", type: "u32", access: "read" },
      { name: "out", type: "u32", access: "read_write" },
    ],
    FINITE_FIELDS,
  )}
var<workgroup> part: array<u32, 256>;
fn bad(w: u32) -> u32 {
  ${bad}
}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3u) {
  var s = 0u;
  for (var i = lid.x; i < P.words; i += 256u) {
    var w = x[i];
    if (i + 1u == P.words) { w = w & P.lastMask; }
    s += bad(w);
  }
  part[lid.x] = s;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k = k >> 1u) {
    if (lid.x < k) { part[lid.x] += part[lid.x + k]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { out[P.slot] = part[0]; }
}`;
});
