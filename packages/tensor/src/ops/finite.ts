/**
 * Counting non-finite values (NaN, ±Inf) over many tensors with one readback: each tensor's count lands
 * in its own slot of one small GPU buffer, which is read once. Used before a checkpoint is written, so a
 * diverged model is never saved as good. The test is on the bits (all exponent bits set), not `v != v`,
 * which a shader compiler may fold away under fast-math assumptions.
 */
import type { DType } from "../dtype.js";
import { declareBindings } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";

const FIELDS = [
  ["words", "u32"],
  ["lastMask", "u32"],
  ["slot", "u32"],
] as const;

/** Exponent mask of one element, repeated for each element packed in a 32-bit word. */
function exponentMask(dtype: DType): number | null {
  switch (dtype) {
    case "f32":
      return 0x7f800000;
    case "f16":
      return 0x7c00;
    case "bf16":
      return 0x7f80;
    default:
      return null; // integers are always finite
  }
}

/** How many elements of `tensors` (float dtypes; integers count 0) are NaN or ±Inf. One sync point. */
export async function countNonFinite(tensors: readonly Tensor[]): Promise<number> {
  const floats = tensors.filter((t) => exponentMask(t.dtype) !== null && t.numel > 0);
  if (!floats.length) return 0;
  const device = floats[0]!.device;
  const counts = new Tensor(device, [floats.length], "u32");
  try {
    floats.forEach((t, slot) => {
      const half = t.dtype !== "f32";
      const words = half ? Math.ceil(t.numel / 2) : t.numel;
      // A 16-bit tensor of odd length leaves the high half of its last word unused (possibly stale bytes).
      const lastMask = half && t.numel % 2 ? 0xffff : 0xffffffff;
      const mask = exponentMask(t.dtype)!;
      device.run({
        name: "count_non_finite",
        key: `count_non_finite_${t.dtype}`,
        code: () => `${declareBindings(
          [
            { name: "x", type: "u32", access: "read" },
            { name: "out", type: "u32", access: "read_write" },
          ],
          FIELDS,
        )}
var<workgroup> part: array<u32, 256>;
fn bad(w: u32) -> u32 {
  ${
    half
      ? `let lo = select(0u, 1u, (w & ${mask}u) == ${mask}u);
  let hi = select(0u, 1u, ((w >> 16u) & ${mask}u) == ${mask}u);
  return lo + hi;`
      : `return select(0u, 1u, (w & ${mask}u) == ${mask}u);`
  }
}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3u) {
  // One workgroup strides over the tensor, then tree-reduces its 256 partial counts.
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
}`,
        buffers: [t.buffer, counts.buffer],
        uniforms: { fields: FIELDS, values: [words, lastMask, slot] },
        workgroups: [1],
      });
    });
    const host = (await counts.data()) as Uint32Array;
    let n = 0;
    for (const c of host) n += c;
    return n;
  } finally {
    counts.dispose();
  }
}
