/**
 * Philox4x32-10, a counter-based RNG (Salmon et al., 2011; what cuRAND and PyTorch's CUDA dropout use).
 * A value depends only on (seed, offset, element index), so a recomputation in activation checkpointing
 * reproduces the same dropout mask, and the CPU version here reproduces the GPU's numbers exactly.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High and low 32 bits of a 32x32-bit unsigned product. */
function mulhilo(a: number, b: number): [number, number] {
  const lo = Math.imul(a, b) >>> 0;
  const aH = a >>> 16;
  const aL = a & 0xffff;
  const bH = b >>> 16;
  const bL = b & 0xffff;
  const mid1 = aH * bL;
  const mid2 = aL * bH;
  const low = aL * bL;
  const carry = ((low >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  const hi = (aH * bH + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
  return [hi, lo];
}

export function philox4x32(
  c: [number, number, number, number],
  key: [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = c;
  let [k0, k1] = key;
  for (let r = 0; r < 10; r++) {
    const [hi0, lo0] = mulhilo(M0, c0);
    const [hi1, lo1] = mulhilo(M1, c2);
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0 >>> 0, c1 >>> 0, c2 >>> 0, c3 >>> 0];
}

/** Uniform [0, 1) for element `i` of draw `offset` under `seed` (24-bit mantissa, as the WGSL). */
export function philoxUniform(seed: number, offset: number, i: number): number {
  const w = philox4x32([i >>> 2, offset >>> 0, 0, 0], [seed >>> 0, 0x5eed]);
  return (w[i & 3]! >>> 8) * (1 / 16777216);
}

/** Standard normal for element `i` (Box-Muller on two words of one Philox block). */
export function philoxNormal(seed: number, offset: number, i: number): number {
  const w = philox4x32([i >>> 0, offset >>> 0, 1, 0], [seed >>> 0, 0x5eed]);
  const u1 = ((w[0]! >>> 8) + 1) * (1 / 16777216);
  const u2 = (w[1]! >>> 8) * (1 / 16777216);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** The same generator in WGSL. */
export { PHILOX_WGSL } from "./kernels/philox.js";

/** Reserves `n` consecutive RNG offsets on a device's generator. */
export function nextOffset(rng: { offset: number }, n = 1): number {
  const o = rng.offset;
  rng.offset = (rng.offset + n) >>> 0;
  return o;
}
