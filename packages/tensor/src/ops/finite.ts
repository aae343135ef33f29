/**
 * Counting non-finite values (NaN, ±Inf) over many tensors with one readback: each tensor's count lands
 * in its own slot of one small GPU buffer, which is read once. Used before a checkpoint is written, so a
 * diverged model is never saved as good (the kernel: kernels/finite.ts).
 */
import { FINITE_FIELDS, countNonFiniteKernel } from "../kernels/finite.js";
import { Tensor } from "../tensor.js";

/** How many elements of `tensors` (float dtypes; integers count 0) are NaN or ±Inf. One sync point. */
export async function countNonFinite(tensors: readonly Tensor[]): Promise<number> {
  // Integers are always finite.
  const floats = tensors.filter(
    (t) => (t.dtype === "f32" || t.dtype === "f16" || t.dtype === "bf16") && t.numel > 0,
  );
  if (!floats.length) return 0;
  const device = floats[0]!.device;
  const counts = new Tensor(device, [floats.length], "u32");
  try {
    floats.forEach((t, slot) => {
      const dtype = t.dtype as "f32" | "f16" | "bf16";
      const half = dtype !== "f32";
      const words = half ? Math.ceil(t.numel / 2) : t.numel;
      // A 16-bit tensor of odd length leaves the high half of its last word unused (possibly stale bytes).
      const lastMask = half && t.numel % 2 ? 0xffff : 0xffffffff;
      device.run({
        name: "count_non_finite",
        kernel: countNonFiniteKernel,
        variant: { dtype },
        buffers: [t.buffer, counts.buffer],
        uniforms: { fields: FINITE_FIELDS, values: [words, lastMask, slot] },
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
