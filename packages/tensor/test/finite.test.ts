import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { useDevice } from "./helpers.js";

const ctx = useDevice();

/** Values with NaN/±Inf at scattered positions, plus extremes that are finite (max f32, subnormals). */
function values(n: number, seed: number): Float32Array {
  const v = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 10);
  const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3.4e38, -1e-45, 0];
  for (let i = seed % 7; i < n; i += 97) v[i] = specials[i % specials.length]!;
  return v;
}

/** Host reference: elements that are not finite after rounding to the stored dtype. */
async function reference(t: T.Tensor): Promise<number> {
  let bad = 0;
  for (const x of (await t.data()) as Float32Array) if (!Number.isFinite(x)) bad++;
  return bad;
}

describe("countNonFinite", () => {
  it("counts NaN and ±Inf over f32, bf16 (odd length) and i32 tensors with one readback, as the host does", async () => {
    const dev = ctx.dev;
    const f32 = T.tensor(dev, values(5000, 1), [50, 100]);
    const small = T.tensor(dev, values(3, 0), [3]); // one NaN at index 0
    const bf16 = T.tensor(dev, values(1001, 3), [1001], { dtype: "bf16" });
    const ints = T.tensor(dev, Int32Array.from([0x7fc00000, -1, 7]), [3]);
    const clean = T.tensor(
      dev,
      Float32Array.from({ length: 777 }, (_, i) => i - 300),
      [777],
    );
    const expected = (await reference(f32)) + (await reference(small)) + (await reference(bf16));
    expect(expected).toBeGreaterThan(20);
    expect(await T.countNonFinite([f32, small, bf16, ints, clean])).toBe(expected);
    expect(await T.countNonFinite([clean, ints])).toBe(0);
    // 3.4e38 rounds to +Inf in bf16: the count follows the stored value.
    const big = T.tensor(dev, Float32Array.from([3.4e38, 1]), [2], { dtype: "bf16" });
    expect(await T.countNonFinite([big])).toBe(await reference(big));
    for (const t of [f32, small, bf16, ints, clean, big]) t.dispose();
  });

  it("ignores the unused half of an odd-length 16-bit tensor's last word", async () => {
    const dev = ctx.dev;
    const t = T.tensor(dev, Float32Array.from([1, 2, 3]), [3], { dtype: "bf16" });
    // Word 1 holds element 2 (low half) and padding (high half): put a NaN pattern in the padding.
    const bf = (x: number) => (new Uint32Array(Float32Array.from([x]).buffer)[0]! >>> 16) & 0xffff;
    dev.upload(t.buffer, Uint32Array.from([bf(1) | (bf(2) << 16), bf(3) | (0x7fc0 << 16)]));
    expect(await T.countNonFinite([t])).toBe(0);
    dev.upload(t.buffer, Uint32Array.from([bf(1) | (bf(2) << 16), 0x7fc0 | (0x7fc0 << 16)]));
    expect(await T.countNonFinite([t])).toBe(1);
    t.dispose();
  });
});
