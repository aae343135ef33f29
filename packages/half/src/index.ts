/**
 * @vit/half — IEEE float16 and bfloat16 to and from float32 on the host, the one implementation every vit
 * package uses (tensor uploads and reads, safetensors, the data loader's bf16 batches). No dependencies, so
 * the GPU-free @vit/data can use it as well as @vit/tensor.
 *
 * Narrowing rounds the float32 value to nearest, ties to even, as PyTorch (c10's round_to_nearest_even and
 * fp16_ieee_from_fp32_value) and GPUs do. A value at or beyond the largest finite half plus half an ulp
 * becomes ±Inf (IEEE overflow), values below half the smallest subnormal become ±0, and NaN stays NaN:
 * the canonical quiet NaN torch writes (f16: sign | 0x7e00, bf16: 0x7fc0). Widening is exact.
 */

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 bit pattern → float16 bit pattern. */
function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal f16 (units of 2^-24); below half the smallest subnormal rounds to zero.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rem > half || (rem === half && (r & 1) !== 0)) r++; // may carry into the smallest normal
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) !== 0)) r++; // a carry rolls into the exponent, or Inf
  return sign | r;
}

/** float32 bit pattern → bfloat16 bit pattern. */
function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function f16BitsValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** Rounds a number to float32, then to float16; returns the 16-bit pattern. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToF16(u32Scratch[0]!);
}

/** A float16 bit pattern's exact value. */
export function f16BitsToF32(h: number): number {
  return f16BitsValue(h & 0xffff);
}

/** Rounds a number to float32, then to bfloat16; returns the 16-bit pattern. */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToBf16(u32Scratch[0]!);
}

/** A bfloat16 bit pattern's exact value. */
export function bf16BitsToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0]!;
}

export function f32ArrayToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < out.length; i++) out[i] = f32BitsToF16(bits[i]!);
  return out;
}

export function f16ArrayToF32(src: Uint16Array): Float32Array {
  // Only 65536 patterns: a table is both exact and fast for large arrays.
  const out = new Float32Array(src.length);
  if (src.length > 4096) {
    const table = f16Table();
    for (let i = 0; i < out.length; i++) out[i] = table[src[i]!]!;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = f16BitsValue(src[i]!);
  }
  return out;
}

export function f32ArrayToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < out.length; i++) out[i] = f32BitsToBf16(bits[i]!);
  return out;
}

export function bf16ArrayToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) bits[i] = src[i]! << 16;
  return out;
}

let f16TableCache: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!f16TableCache) {
    f16TableCache = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16TableCache[h] = f16BitsValue(h);
  }
  return f16TableCache;
}
