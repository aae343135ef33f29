import type { Image } from "../image.js";

/**
 * Bilinear resampling that reproduces Pillow's `Image.resize(size, BILINEAR)` bit for bit: a triangle filter
 * whose support widens with the downscale factor (so shrinking antialiases instead of aliasing), evaluated
 * separably — horizontal pass first, rounded to 8 bits, then vertical — in 22-bit fixed point.
 * torchvision's PIL path uses exactly this, so our crops look like the peer's.
 */

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;

interface Coeffs {
  /** First source index per output index. */
  start: Int32Array;
  /** Tap count per output index. */
  count: Int32Array;
  /** Pillow's fixed-point weights divided by 2^22 (exact), `ksize` slots per output index. */
  scaled: Float64Array;
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
  const scaled = new Float64Array(outSize * ksize);
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
      const fixed = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
      scaled[xx * ksize + x] = fixed / ONE;
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, scaled, ksize };
}

/*
 * Both passes work in float64 with the fixed-point weights pre-divided by 2^22. That is bit-identical to
 * Pillow's integer arithmetic — every product and partial sum is an exact multiple of 2^-22 well inside the
 * 53-bit mantissa, so floor(0.5 + Σ) equals (2^21 + Σ·2^22) >> 22 — and V8 runs it faster than int32 code
 * that has to guard against overflow.
 */

/** Horizontal pass over source rows [y0, y0+rows) with precomputed coefficients. */
function horizontal(src: Image, y0: number, rows: number, coeffs: Coeffs, outW: number): Image {
  const c = src.channels;
  const { start, count, ksize } = coeffs;
  const weights = coeffs.scaled;
  const out = new Uint8Array(outW * rows * c);
  const sd = src.data;
  const srcStride = src.width * c;
  for (let y = 0; y < rows; y++) {
    const rowOff = (y0 + y) * srcStride;
    let o = y * outW * c;
    for (let xx = 0; xx < outW; xx++) {
      const n = count[xx]!;
      const kOff = xx * ksize;
      let p = rowOff + start[xx]! * c;
      if (c === 3) {
        let a0 = 0.5;
        let a1 = 0.5;
        let a2 = 0.5;
        for (let i = 0; i < n; i++, p += 3) {
          const w = weights[kOff + i]!;
          a0 += sd[p]! * w;
          a1 += sd[p + 1]! * w;
          a2 += sd[p + 2]! * w;
        }
        out[o++] = a0 >= 255 ? 255 : a0;
        out[o++] = a1 >= 255 ? 255 : a1;
        out[o++] = a2 >= 255 ? 255 : a2;
      } else {
        let a0 = 0.5;
        for (let i = 0; i < n; i++, p++) a0 += sd[p]! * weights[kOff + i]!;
        out[o++] = a0 >= 255 ? 255 : a0;
      }
    }
  }
  return { data: out, width: outW, height: rows, channels: c };
}

/** Vertical pass with precomputed coefficients; `rowShift` is the first source row `src` holds. */
function vertical(src: Image, coeffs: Coeffs, rowShift: number, outH: number): Image {
  const c = src.channels;
  const { start, count, ksize } = coeffs;
  const weights = coeffs.scaled;
  const rowLen = src.width * c;
  const out = new Uint8Array(rowLen * outH);
  const sd = src.data;
  const acc = new Float64Array(rowLen);
  for (let yy = 0; yy < outH; yy++) {
    const base = (start[yy]! - rowShift) * rowLen;
    const n = count[yy]!;
    const kOff = yy * ksize;
    const o = yy * rowLen;
    // Up to three taps (upscaling, mild downscaling) unrolled; wider kernels accumulate row by row.
    if (n === 2) {
      const w0 = weights[kOff]!;
      const w1 = weights[kOff + 1]!;
      const r1 = base + rowLen;
      for (let x = 0; x < rowLen; x++) {
        const v = 0.5 + sd[base + x]! * w0 + sd[r1 + x]! * w1;
        out[o + x] = v >= 255 ? 255 : v;
      }
    } else if (n === 3) {
      const w0 = weights[kOff]!;
      const w1 = weights[kOff + 1]!;
      const w2 = weights[kOff + 2]!;
      const r1 = base + rowLen;
      const r2 = r1 + rowLen;
      for (let x = 0; x < rowLen; x++) {
        const v = 0.5 + sd[base + x]! * w0 + sd[r1 + x]! * w1 + sd[r2 + x]! * w2;
        out[o + x] = v >= 255 ? 255 : v;
      }
    } else {
      acc.fill(0.5);
      for (let i = 0; i < n; i++) {
        const w = weights[kOff + i]!;
        const r = base + i * rowLen;
        for (let x = 0; x < rowLen; x++) acc[x]! += sd[r + x]! * w;
      }
      for (let x = 0; x < rowLen; x++) {
        const v = acc[x]!;
        out[o + x] = v >= 255 ? 255 : v;
      }
    }
  }
  return { data: out, width: src.width, height: outH, channels: c };
}

/**
 * Resizes `img` (or the box [left, top, left+width, top+height] inside it) to outW x outH with Pillow's
 * bilinear filter. A box behaves exactly like cropping first and resizing the crop — which is what
 * torchvision does — so filter taps never reach outside the box; it just skips the copy.
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
  const hc = precompute(width, 0, width, outW);
  const vc = precompute(height, 0, height, outH);
  for (let i = 0; i < outW; i++) hc.start[i]! += left;
  for (let i = 0; i < outH; i++) vc.start[i]! += top;
  // Like Pillow, the horizontal pass only touches the source rows the vertical pass will read.
  const firstRow = vc.start[0]!;
  const lastRow = vc.start[outH - 1]! + vc.count[outH - 1]!;
  let cur = img;
  let rowShift = 0;
  if (needH) {
    cur = horizontal(img, firstRow, lastRow - firstRow, hc, outW);
    rowShift = firstRow;
  }
  if (needV) cur = vertical(cur, vc, rowShift, outH);
  return cur;
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
