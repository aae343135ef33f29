import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  bf16ArrayToF32,
  bf16BitsToF32,
  f16ArrayToF32,
  f16BitsToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32ToBf16Bits,
  f32ToF16Bits,
} from "../src/index.js";

/**
 * Reference rounding by brute force, independent of the bit tricks under test: the positive patterns of a
 * half format are ordered like their values, so the nearest one is found by binary search over exact
 * (float64) values; a tie picks the even pattern; past the largest finite value the next "value" is Inf
 * (at max + one ulp, so max + half an ulp ties to Inf's even pattern, as IEEE overflow does).
 */
function makeReference(expBits: number, mantBits: number) {
  const bias = 2 ** (expBits - 1) - 1;
  const infPattern = (2 ** expBits - 1) * 2 ** mantBits;
  const value = (p: number): number => {
    const e = Math.floor(p / 2 ** mantBits);
    const m = p % 2 ** mantBits;
    if (p === infPattern) return 2 ** (bias + 1); // stands for Inf: one ulp past the largest finite value
    return e === 0 ? m * 2 ** (1 - bias - mantBits) : (1 + m / 2 ** mantBits) * 2 ** (e - bias);
  };
  const signBit = 2 ** (expBits + mantBits);
  return (x: number): number => {
    const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
    const a = Math.abs(x);
    if (a >= value(infPattern)) return sign | infPattern;
    let lo = 0;
    let hi = infPattern; // value(lo) <= a < value(hi)
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (value(mid) <= a) lo = mid;
      else hi = mid;
    }
    const dlo = a - value(lo);
    const dhi = value(hi) - a;
    return sign | (dlo < dhi ? lo : dhi < dlo ? hi : lo % 2 === 0 ? lo : hi);
  };
}
const refF16 = makeReference(5, 10);
const refBf16 = makeReference(8, 7);

const asF32 = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0]!;

/** float32 patterns covering every exponent, the rounding boundaries around them, and random ones. */
function samplePatterns(): number[] {
  const out: number[] = [];
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s;
  };
  for (let e = 0; e < 255; e++) {
    for (const m of [
      0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001, 0x18000, 0x7fffff,
    ]) {
      out.push(((e << 23) | m) >>> 0, ((1 << 31) | (e << 23) | m) >>> 0);
    }
  }
  for (let i = 0; i < 50_000; i++) out.push(rand());
  return out.filter((b) => (b & 0x7f800000) !== 0x7f800000); // finite; Inf and NaN are tested apart
}

describe("@vit/half against a bit-exact host reference", () => {
  const patterns = samplePatterns();

  it("f32 → f16 rounds to nearest even, overflow → ±Inf, underflow → ±0", () => {
    const bad = patterns.filter((b) => f32ToF16Bits(asF32(b)) !== refF16(asF32(b)));
    expect(bad.map((b) => b.toString(16))).toEqual([]);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // max + half an ulp: ties to even = Inf
    expect(f32ToF16Bits(-1e6)).toBe(0xfc00);
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // exactly half the smallest subnormal: ties to even 0
    expect(f32ToF16Bits(-(2 ** -25) * 1.5)).toBe(0x8001);
  });

  it("f32 → bf16 rounds to nearest even, overflow → ±Inf", () => {
    const bad = patterns.filter((b) => f32ToBf16Bits(asF32(b)) !== refBf16(asF32(b)));
    expect(bad.map((b) => b.toString(16))).toEqual([]);
    expect(f32ToBf16Bits(3.4e38)).toBe(0x7f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  it("arrays agree with the scalar functions", () => {
    const xs = new Float32Array(patterns.slice(0, 6000).map(asF32));
    expect(Array.from(f32ArrayToF16(xs))).toEqual(Array.from(xs, f32ToF16Bits));
    expect(Array.from(f32ArrayToBf16(xs))).toEqual(Array.from(xs, f32ToBf16Bits));
  });

  it("widening is exact: every pattern decodes to the value its fields define, round trips hold", () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f16 = f16ArrayToF32(all); // > 4096 elements: the table path
    const bf16 = bf16ArrayToF32(all);
    const bad: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const e = (h >>> 10) & 0x1f;
      if (e === 0x1f && (h & 0x3ff) !== 0) {
        if (!Number.isNaN(f16[h]!)) bad.push(`f16 ${h.toString(16)} is not NaN`);
      } else {
        const v = e === 0x1f ? Number.POSITIVE_INFINITY : refValueF16(h & 0x7fff);
        if (!Object.is(f16[h], h & 0x8000 ? -v : v)) bad.push(`f16 ${h.toString(16)} -> ${f16[h]}`);
        if (!Object.is(f16BitsToF32(h), f16[h])) bad.push(`f16BitsToF32 ${h.toString(16)}`);
        if (f32ToF16Bits(f16[h]!) !== h) bad.push(`f16 ${h.toString(16)} does not round to itself`);
      }
      const b = bf16[h]!;
      if (!Number.isNaN(b) && f32ToBf16Bits(b) !== h)
        bad.push(`bf16 ${h.toString(16)} does not round to itself`);
      if (!Object.is(bf16BitsToF32(h), b)) bad.push(`bf16BitsToF32 ${h.toString(16)}`);
    }
    expect(bad).toEqual([]);
  });

  it("NaN stays a quiet NaN, ±Inf stay ±Inf", () => {
    for (const bits of [0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345, 0x7fffffff]) {
      const x = asF32(bits);
      const h = f32ToF16Bits(x);
      expect((h & 0x7e00) === 0x7e00 && Number.isNaN(f16BitsToF32(h))).toBe(true); // quiet bit set
      const b = f32ToBf16Bits(x);
      expect(b).toBe(0x7fc0);
      expect(Number.isNaN(bf16BitsToF32(b))).toBe(true);
    }
    expect(f32ToF16Bits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(f32ToF16Bits(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    expect(f32ToBf16Bits(Number.POSITIVE_INFINITY)).toBe(0x7f80);
    expect(f32ToBf16Bits(Number.NEGATIVE_INFINITY)).toBe(0xff80);
  });
});

function refValueF16(h: number): number {
  const e = h >>> 10;
  const m = h & 0x3ff;
  return e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
}

describe("@vit/half against PyTorch's rounding (packages/nn/test/fixtures/torch-dtypes.safetensors)", () => {
  // Written by tooling/fixtures/make.py: float32 values and the float16/bfloat16 torch rounded them to.
  const buf = readFileSync(
    fileURLToPath(new URL("../../nn/test/fixtures/torch-dtypes.safetensors", import.meta.url)),
  );
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { data_offsets: [number, number] }
  >;
  const bytes = (name: string): Uint8Array => {
    const [s, e] = header[name]!.data_offsets;
    return new Uint8Array(buf.subarray(8 + n + s, 8 + n + e)); // a copy: aligned for the typed views
  };
  const f32 = new Float32Array(bytes("f32").buffer);

  it("narrows exactly as torch did and widens back to torch's float32", () => {
    const f16 = new Uint16Array(bytes("f16").buffer);
    const bf16 = new Uint16Array(bytes("bf16").buffer);
    expect(f32.length).toBeGreaterThan(200);
    expect(Array.from(f32ArrayToF16(f32))).toEqual(Array.from(f16));
    expect(Array.from(f32ArrayToBf16(f32))).toEqual(Array.from(bf16));
    expect(Array.from(f16ArrayToF32(f16))).toEqual(Array.from(new Float32Array(bytes("f16_as_f32").buffer)));
    expect(Array.from(bf16ArrayToF32(bf16))).toEqual(
      Array.from(new Float32Array(bytes("bf16_as_f32").buffer)),
    );
  });
});
