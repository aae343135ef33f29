import type { Image } from "../image.js";
import { MAX_SIMD_TAPS, simdKernels, simdMemory } from "./simd.js";

/**
 * Bilinear resampling that reproduces Pillow's `Image.resize(size, BILINEAR)` bit for bit: a triangle filter
 * whose support widens with the downscale factor (so shrinking antialiases instead of aliasing), evaluated
 * separably — horizontal pass first, rounded to 8 bits, then vertical — in 22-bit fixed point.
 * torchvision's PIL path uses exactly this, so our crops look like the peer's.
 */

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
/** Pillow starts every accumulator at one half (in fixed point) so that the final shift rounds. */
const HALF = 1 << (PRECISION_BITS - 1);

interface Coeffs {
  /** First source index per output index. */
  start: Int32Array;
  /** Tap count per output index. */
  count: Int32Array;
  /** Pillow's fixed-point weights (sum ≈ 2^22), `ksize` slots per output index, unused slots 0. */
  weights: Int32Array;
  ksize: number;
}

function triangle(x: number): number {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
}

/** Pillow's precompute_coeffs for the source window [in0, in1) of an axis of length inSize. */
function precompute(inSize: number, in0: number, in1: number, outSize: number): Coeffs {
  const scale = (in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = triangle((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      // Pillow rounds half away from zero when converting weights to fixed point.
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, weights, ksize };
}

/*
 * Both passes use Pillow's own 32-bit integer arithmetic. The bilinear triangle never has negative weights and
 * the fixed-point weights of one output sum to 2^22 (plus at most a few units of rounding), so an accumulator
 * stays below 2^21 + 255·(2^22 + 8) < 2^31: V8 keeps it in an int32 register, no overflow path is ever taken,
 * and `acc >> 22` clamped to 255 is exactly Pillow's clip8.
 */

/**
 * The horizontal taps of every output column, widened to one common count K: a column with fewer taps gets zero
 * weights and its window is slid left (never past the box) so that all K reads stay inside the box. A fixed K
 * lets the hot loop be unrolled; the extra zero-weight products change nothing.
 */
interface FixedTaps {
  start: Int32Array;
  weights: Int32Array;
  k: number;
}

function fixedTaps(c: Coeffs, boxLeft: number, boxWidth: number): FixedTaps | null {
  const n = c.start.length;
  let k = 0;
  for (let i = 0; i < n; i++) if (c.count[i]! > k) k = c.count[i]!;
  if (k > boxWidth) return null;
  const start = new Int32Array(n);
  const weights = new Int32Array(n * k);
  for (let i = 0; i < n; i++) {
    const cnt = c.count[i]!;
    let s = c.start[i]!; // relative to the box
    const shift = s + k > boxWidth ? s + k - boxWidth : 0;
    s -= shift;
    for (let t = 0; t < cnt; t++) weights[i * k + shift + t] = c.weights[i * c.ksize + t]!;
    start[i] = s + boxLeft;
  }
  return { start, weights, k };
}

const clip = (v: number): number => (v > 255 ? 255 : v);

/**
 * Horizontal pass over source rows [y0, y0+rows) into `out` (rows × outW × channels). Three-channel images with
 * a fixed tap count take unrolled loops (the common case: 2–5 taps for crops near the output size).
 */
function horizontal(
  src: Image,
  y0: number,
  rows: number,
  c: Coeffs,
  fixed: FixedTaps | null,
  boxLeft: number,
  outW: number,
  out: Uint8Array,
): void {
  const sd = src.data;
  const ch = src.channels;
  const srcStride = src.width * ch;
  if (ch === 3 && fixed) {
    const { start, weights: w, k } = fixed;
    for (let y = 0; y < rows; y++) {
      const rowOff = (y0 + y) * srcStride;
      let o = y * outW * 3;
      if (k === 2) {
        for (let xx = 0, kk = 0; xx < outW; xx++, kk += 2) {
          const p = rowOff + start[xx]! * 3;
          const w0 = w[kk]!;
          const w1 = w[kk + 1]!;
          out[o++] = clip((HALF + sd[p]! * w0 + sd[p + 3]! * w1) >> PRECISION_BITS);
          out[o++] = clip((HALF + sd[p + 1]! * w0 + sd[p + 4]! * w1) >> PRECISION_BITS);
          out[o++] = clip((HALF + sd[p + 2]! * w0 + sd[p + 5]! * w1) >> PRECISION_BITS);
        }
      } else if (k === 3) {
        for (let xx = 0, kk = 0; xx < outW; xx++, kk += 3) {
          const p = rowOff + start[xx]! * 3;
          const w0 = w[kk]!;
          const w1 = w[kk + 1]!;
          const w2 = w[kk + 2]!;
          out[o++] = clip((HALF + sd[p]! * w0 + sd[p + 3]! * w1 + sd[p + 6]! * w2) >> PRECISION_BITS);
          out[o++] = clip((HALF + sd[p + 1]! * w0 + sd[p + 4]! * w1 + sd[p + 7]! * w2) >> PRECISION_BITS);
          out[o++] = clip((HALF + sd[p + 2]! * w0 + sd[p + 5]! * w1 + sd[p + 8]! * w2) >> PRECISION_BITS);
        }
      } else if (k === 4) {
        for (let xx = 0, kk = 0; xx < outW; xx++, kk += 4) {
          const p = rowOff + start[xx]! * 3;
          const w0 = w[kk]!;
          const w1 = w[kk + 1]!;
          const w2 = w[kk + 2]!;
          const w3 = w[kk + 3]!;
          out[o++] = clip(
            (HALF + sd[p]! * w0 + sd[p + 3]! * w1 + sd[p + 6]! * w2 + sd[p + 9]! * w3) >> PRECISION_BITS,
          );
          out[o++] = clip(
            (HALF + sd[p + 1]! * w0 + sd[p + 4]! * w1 + sd[p + 7]! * w2 + sd[p + 10]! * w3) >> PRECISION_BITS,
          );
          out[o++] = clip(
            (HALF + sd[p + 2]! * w0 + sd[p + 5]! * w1 + sd[p + 8]! * w2 + sd[p + 11]! * w3) >> PRECISION_BITS,
          );
        }
      } else {
        for (let xx = 0, kk = 0; xx < outW; xx++, kk += k) {
          let p = rowOff + start[xx]! * 3;
          let a0 = HALF;
          let a1 = HALF;
          let a2 = HALF;
          for (let i = 0; i < k; i++, p += 3) {
            const wi = w[kk + i]!;
            a0 += sd[p]! * wi;
            a1 += sd[p + 1]! * wi;
            a2 += sd[p + 2]! * wi;
          }
          out[o++] = clip(a0 >> PRECISION_BITS);
          out[o++] = clip(a1 >> PRECISION_BITS);
          out[o++] = clip(a2 >> PRECISION_BITS);
        }
      }
    }
    return;
  }
  // General case (one channel, or a box narrower than the widest kernel): Pillow's variable tap counts.
  const { start, count, weights, ksize } = c;
  for (let y = 0; y < rows; y++) {
    const rowOff = (y0 + y) * srcStride;
    let o = y * outW * ch;
    for (let xx = 0; xx < outW; xx++) {
      const n = count[xx]!;
      const kOff = xx * ksize;
      let p = rowOff + (start[xx]! + boxLeft) * ch;
      if (ch === 3) {
        let a0 = HALF;
        let a1 = HALF;
        let a2 = HALF;
        for (let i = 0; i < n; i++, p += 3) {
          const wi = weights[kOff + i]!;
          a0 += sd[p]! * wi;
          a1 += sd[p + 1]! * wi;
          a2 += sd[p + 2]! * wi;
        }
        out[o++] = clip(a0 >> PRECISION_BITS);
        out[o++] = clip(a1 >> PRECISION_BITS);
        out[o++] = clip(a2 >> PRECISION_BITS);
      } else {
        let a0 = HALF;
        for (let i = 0; i < n; i++, p++) a0 += sd[p]! * weights[kOff + i]!;
        out[o++] = clip(a0 >> PRECISION_BITS);
      }
    }
  }
}

/**
 * Vertical pass: `sd` holds rows of `rowLen` bytes starting at source row `rowShift`; writes outH rows to `out`.
 * The tap count varies per output row only, so each row is one tight loop over the whole row.
 */
function vertical(
  sd: Uint8Array,
  rowLen: number,
  rowShift: number,
  c: Coeffs,
  boxTop: number,
  outH: number,
  out: Uint8Array,
): void {
  const { start, count, weights: w, ksize } = c;
  for (let yy = 0; yy < outH; yy++) {
    const base = (start[yy]! + boxTop - rowShift) * rowLen;
    const n = count[yy]!;
    const kk = yy * ksize;
    const o = yy * rowLen;
    if (n === 2) {
      const w0 = w[kk]!;
      const w1 = w[kk + 1]!;
      const r1 = base + rowLen;
      for (let x = 0; x < rowLen; x++) {
        out[o + x] = clip((HALF + sd[base + x]! * w0 + sd[r1 + x]! * w1) >> PRECISION_BITS);
      }
    } else if (n === 3) {
      const w0 = w[kk]!;
      const w1 = w[kk + 1]!;
      const w2 = w[kk + 2]!;
      const r1 = base + rowLen;
      const r2 = r1 + rowLen;
      for (let x = 0; x < rowLen; x++) {
        out[o + x] = clip(
          (HALF + sd[base + x]! * w0 + sd[r1 + x]! * w1 + sd[r2 + x]! * w2) >> PRECISION_BITS,
        );
      }
    } else if (n === 4) {
      const w0 = w[kk]!;
      const w1 = w[kk + 1]!;
      const w2 = w[kk + 2]!;
      const w3 = w[kk + 3]!;
      const r1 = base + rowLen;
      const r2 = r1 + rowLen;
      const r3 = r2 + rowLen;
      for (let x = 0; x < rowLen; x++) {
        out[o + x] = clip(
          (HALF + sd[base + x]! * w0 + sd[r1 + x]! * w1 + sd[r2 + x]! * w2 + sd[r3 + x]! * w3) >>
            PRECISION_BITS,
        );
      }
    } else {
      for (let x = 0; x < rowLen; x++) {
        let a = HALF;
        for (let i = 0, r = base + x; i < n; i++, r += rowLen) a += sd[r]! * w[kk + i]!;
        out[o + x] = clip(a >> PRECISION_BITS);
      }
    }
  }
}

type Sink =
  | { bytes: Uint8Array }
  | { luts: Float32Array[]; mirror: boolean; out: Float32Array; offset: number };

/**
 * Both passes in WebAssembly SIMD (simd.ts), writing bytes to `sink.bytes` or, for a tensor sink, CHW floats
 * through the per-channel tables (mirrored if asked) at `sink.out[offset..]`. Returns false, having done
 * nothing, where the kernels do not apply: no SIMD, one channel, or more taps than they were generated for.
 */
function resampleSimd(
  img: Image,
  left: number,
  top: number,
  outW: number,
  outH: number,
  hc: Coeffs,
  vc: Coeffs,
  fixed: FixedTaps | null,
  sink: Sink,
): boolean {
  if (img.channels !== 3 || !fixed || fixed.k > MAX_SIMD_TAPS) return false;
  const k = simdKernels();
  if (!k) return false;
  const firstRow = vc.start[0]! + top;
  const lastRow = vc.start[outH - 1]! + vc.count[outH - 1]! + top;
  const rows = lastRow - firstRow;
  const stride = img.width * 3;
  const tensor = "luts" in sink;
  const pixels = outW * outH * 3;
  // Every region gets 16 bytes of slack: the kernels read and write whole vectors past row ends.
  let at = 0;
  const take = (n: number): number => {
    const a = at;
    at += (n + 31) & ~15;
    return a;
  };
  const pSrc = take(rows * stride);
  const pH = take(rows * outW * 3);
  const pU = take(pixels);
  const pF = tensor ? take(pixels * 4) : 0;
  const pHs = take(outW * 4);
  const pHw = take(outW * fixed.k * 4);
  const pVs = take(outH * 4);
  const pVc = take(outH * 4);
  const pVw = take(outH * vc.ksize * 4);
  const pL = tensor ? take(3 * 256 * 4) : 0;
  const buf = simdMemory(k, at);
  const u8 = new Uint8Array(buf);
  const i32 = new Int32Array(buf);
  u8.set(img.data.subarray(firstRow * stride, lastRow * stride), pSrc);
  const hs = pHs >> 2;
  for (let x = 0; x < outW; x++) i32[hs + x] = fixed.start[x]! * 3;
  i32.set(fixed.weights, pHw >> 2);
  const vs = pVs >> 2;
  const rowLen = outW * 3;
  for (let y = 0; y < outH; y++) i32[vs + y] = (vc.start[y]! + top - firstRow) * rowLen;
  i32.set(vc.count, pVc >> 2);
  i32.set(vc.weights, pVw >> 2);
  k.hpass[fixed.k]!(pSrc, stride, rows, pHs, pHw, outW, pH);
  k.vpass(pH, rowLen, pVs, pVc, pVw, vc.ksize * 4, outH, pU);
  if (!tensor) {
    sink.bytes.set(u8.subarray(pU, pU + pixels));
    return true;
  }
  const f32 = new Float32Array(buf);
  for (let c = 0; c < 3; c++) f32.set(sink.luts[c]!, (pL >> 2) + 256 * c);
  k.tochw3(pU, outW, outH, sink.mirror ? 1 : 0, pL, pF);
  sink.out.set(f32.subarray(pF >> 2, (pF >> 2) + pixels), sink.offset);
  return true;
}

/**
 * Resizes the whole RGB `img` to outW x outH exactly like resizeBilinear and writes the result as CHW floats
 * `luts[c][byte]` at `out[offset..]`, mirrored left to right when `mirror` — resize, flip and ToTensor +
 * Normalize in one go, with no intermediate image handed to JavaScript. Returns false, having written
 * nothing, when the SIMD kernels cannot take the case; the caller then resizes and writes in JavaScript.
 */
export function resizeBilinearToTensor(
  img: Image,
  outW: number,
  outH: number,
  luts: Float32Array[],
  mirror: boolean,
  out: Float32Array,
  offset: number,
): boolean {
  if (img.channels !== 3 || luts.length !== 3) return false;
  if (outW === img.width || outH === img.height) return false; // one pass only: rare, left to JavaScript
  const vc = precompute(img.height, 0, img.height, outH);
  const hc = precompute(img.width, 0, img.width, outW);
  const fixed = fixedTaps(hc, 0, img.width);
  return resampleSimd(img, 0, 0, outW, outH, hc, vc, fixed, { luts, mirror, out, offset });
}

/**
 * The intermediate of the two passes never leaves this module, so one growing buffer per thread serves every
 * call instead of a fresh allocation (and later garbage) per image.
 */
let scratch = new Uint8Array(0);

/**
 * Resizes `img` (or the box [left, top, left+width, top+height] inside it) to outW x outH with Pillow's
 * bilinear filter. A box behaves exactly like cropping first and resizing the crop — which is what
 * torchvision does — so filter taps never reach outside the box; it just skips the copy.
 * `into`, when given, receives the pixels (outW·outH·channels bytes) instead of a new buffer; the result then
 * shares it. Without a resize to do, `img` itself is returned.
 */
export function resizeBilinear(
  img: Image,
  outW: number,
  outH: number,
  box: { left: number; top: number; width: number; height: number } = {
    left: 0,
    top: 0,
    width: img.width,
    height: img.height,
  },
  into?: Uint8Array,
): Image {
  if (outW <= 0 || outH <= 0) throw new RangeError(`resize to ${outW}x${outH}: sizes must be positive`);
  const { left, top, width, height } = box;
  if (
    left < 0 ||
    top < 0 ||
    left + width > img.width ||
    top + height > img.height ||
    width <= 0 ||
    height <= 0
  ) {
    throw new RangeError(
      `resize box ${width}x${height}+${left}+${top} is not inside ${img.width}x${img.height}`,
    );
  }
  const needH = outW !== width || left !== 0 || width !== img.width;
  const needV = outH !== height || top !== 0 || height !== img.height;
  if (!needH && !needV) return img;
  const ch = img.channels;
  const size = outW * outH * ch;
  if (into && into.length < size) throw new RangeError(`resize target holds ${into.length} < ${size} bytes`);
  const out = into ? into.subarray(0, size) : new Uint8Array(size);
  const vc = precompute(height, 0, height, outH);
  if (!needH) {
    // Rows only: the source rows are already the box's full width.
    vertical(img.data, img.width * ch, 0, vc, top, outH, out);
    return { data: out, width: outW, height: outH, channels: ch };
  }
  const hc = precompute(width, 0, width, outW);
  const fixed = fixedTaps(hc, left, width);
  if (!needV) {
    horizontal(img, top, outH, hc, fixed, left, outW, out);
    return { data: out, width: outW, height: outH, channels: ch };
  }
  if (resampleSimd(img, left, top, outW, outH, hc, vc, fixed, { bytes: out })) {
    return { data: out, width: outW, height: outH, channels: ch };
  }
  // Like Pillow, the horizontal pass only touches the source rows the vertical pass will read.
  const firstRow = vc.start[0]! + top;
  const lastRow = vc.start[outH - 1]! + vc.count[outH - 1]! + top;
  const rows = lastRow - firstRow;
  const need = rows * outW * ch;
  if (scratch.length < need) scratch = new Uint8Array(need);
  horizontal(img, firstRow, rows, hc, fixed, left, outW, scratch);
  vertical(scratch, outW * ch, firstRow, vc, top, outH, out);
  return { data: out, width: outW, height: outH, channels: ch };
}

/** Crops [top, top+h) x [left, left+w); parts outside the image are filled with `fill` (PIL's crop does 0). */
export function crop(img: Image, top: number, left: number, h: number, w: number, fill = 0): Image {
  const c = img.channels;
  if (top === 0 && left === 0 && h === img.height && w === img.width) return img;
  const out = new Uint8Array(w * h * c);
  if (fill !== 0) out.fill(fill);
  const x0 = Math.max(0, left);
  const x1 = Math.min(img.width, left + w);
  if (x1 > x0) {
    for (let y = 0; y < h; y++) {
      const sy = top + y;
      if (sy < 0 || sy >= img.height) continue;
      const src = (sy * img.width + x0) * c;
      out.set(img.data.subarray(src, src + (x1 - x0) * c), (y * w + (x0 - left)) * c);
    }
  }
  return { data: out, width: w, height: h, channels: c };
}

/** Mirrors the image left to right. */
export function hflip(img: Image): Image {
  const { width: w, height: h, channels: c } = img;
  const out = new Uint8Array(img.data.length);
  const d = img.data;
  const stride = w * c;
  for (let y = 0; y < h; y++) {
    const row = y * stride;
    if (c === 3) {
      for (let x = 0, s = row, t = row + stride - 3; x < w; x++, s += 3, t -= 3) {
        out[t] = d[s]!;
        out[t + 1] = d[s + 1]!;
        out[t + 2] = d[s + 2]!;
      }
    } else {
      for (let x = 0, s = row, t = row + stride - 1; x < w; x++, s++, t--) out[t] = d[s]!;
    }
  }
  return { data: out, width: w, height: h, channels: c };
}
