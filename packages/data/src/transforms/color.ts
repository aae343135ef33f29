import { type Image, luma, toGrayscale } from "../image.js";

/**
 * Photometric adjustments with PIL's ImageEnhance semantics (what torchvision's PIL path calls):
 * every "enhance(factor)" is a blend between a degenerate image and the input, truncated to 8 bits.
 */

/** PIL Image.blend(degenerate, img, factor): d + factor·(x − d), clipped, truncated toward zero. */
export function blend(degenerate: Uint8Array | number, img: Image, factor: number): Image {
  const src = img.data;
  const out = new Uint8Array(src.length);
  const constant = typeof degenerate === "number";
  for (let i = 0; i < src.length; i++) {
    const d = constant ? degenerate : degenerate[i]!;
    const v = d + factor * (src[i]! - d);
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
  }
  return { data: out, width: img.width, height: img.height, channels: img.channels };
}

export function adjustBrightness(img: Image, factor: number): Image {
  return blend(0, img, factor);
}

/** Blends with the image's mean luma, rounded to an integer as PIL does. */
export function adjustContrast(img: Image, factor: number): Image {
  const gray = toGrayscale(img).data;
  let sum = 0;
  for (let i = 0; i < gray.length; i++) sum += gray[i]!;
  const mean = Math.trunc(sum / gray.length + 0.5);
  return blend(mean, img, factor);
}

/** Blends with the grayscale version; a no-op for single-channel images. */
export function adjustSaturation(img: Image, factor: number): Image {
  if (img.channels === 1) return img;
  const n = img.width * img.height;
  const d = img.data;
  const deg = new Uint8Array(d.length);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const l = luma(d[j]!, d[j + 1]!, d[j + 2]!);
    deg[j] = l;
    deg[j + 1] = l;
    deg[j + 2] = l;
  }
  return blend(deg, img, factor);
}

/**
 * Rotates hue by `hueFactor` of a full turn (in [-0.5, 0.5]). Works in floating-point HSV (torchvision's tensor
 * algorithm) rather than PIL's 8-bit HSV, which would quantize hue to 1/256 turns and lose colour precision.
 */
export function adjustHue(img: Image, hueFactor: number): Image {
  if (img.channels === 1 || hueFactor === 0) return img;
  const d = img.data;
  const out = new Uint8Array(d.length);
  for (let j = 0; j < d.length; j += 3) {
    const r = d[j]! / 255;
    const g = d[j + 1]! / 255;
    const b = d[j + 2]! / 255;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const cr = max - min;
    let h = 0;
    if (cr > 0) {
      if (max === r) h = ((g - b) / cr) % 6;
      else if (max === g) h = (b - r) / cr + 2;
      else h = (r - g) / cr + 4;
      h /= 6;
    }
    h = (((h + hueFactor) % 1) + 1) % 1;
    const v = max;
    const s = max === 0 ? 0 : cr / max;
    const h6 = h * 6;
    const i = Math.floor(h6) % 6;
    const f = h6 - Math.floor(h6);
    const p = v * (1 - s);
    const q = v * (1 - s * f);
    const t = v * (1 - s * (1 - f));
    let rr: number;
    let gg: number;
    let bb: number;
    switch (i) {
      case 0:
        [rr, gg, bb] = [v, t, p];
        break;
      case 1:
        [rr, gg, bb] = [q, v, p];
        break;
      case 2:
        [rr, gg, bb] = [p, v, t];
        break;
      case 3:
        [rr, gg, bb] = [p, q, v];
        break;
      case 4:
        [rr, gg, bb] = [t, p, v];
        break;
      default:
        [rr, gg, bb] = [v, p, q];
    }
    out[j] = Math.round(rr * 255);
    out[j + 1] = Math.round(gg * 255);
    out[j + 2] = Math.round(bb * 255);
  }
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

/**
 * PIL's ImageEnhance.Sharpness: blend with the SMOOTH-filtered image (3x3 kernel [1 1 1; 1 5 1; 1 1 1]/13,
 * rounded; the one-pixel border is left as is).
 */
export function adjustSharpness(img: Image, factor: number): Image {
  const { width: w, height: h, channels: c } = img;
  const d = img.data;
  const deg = new Uint8Array(d);
  if (w >= 3 && h >= 3) {
    const stride = w * c;
    for (let y = 1; y < h - 1; y++) {
      for (let x = 1; x < w - 1; x++) {
        for (let k = 0; k < c; k++) {
          const o = y * stride + x * c + k;
          const s =
            d[o - stride - c]! +
            d[o - stride]! +
            d[o - stride + c]! +
            d[o - c]! +
            5 * d[o]! +
            d[o + c]! +
            d[o + stride - c]! +
            d[o + stride]! +
            d[o + stride + c]!;
          deg[o] = Math.floor(s / 13 + 0.5);
        }
      }
    }
  }
  return blend(deg, img, factor);
}

function applyLut(img: Image, lut: Uint8Array | ((channel: number) => Uint8Array)): Image {
  const d = img.data;
  const out = new Uint8Array(d.length);
  const c = img.channels;
  for (let k = 0; k < c; k++) {
    const t = typeof lut === "function" ? lut(k) : lut;
    for (let i = k; i < d.length; i += c) out[i] = t[d[i]!]!;
  }
  return { data: out, width: img.width, height: img.height, channels: c };
}

/** Keeps the top `bits` bits of each value. */
export function posterize(img: Image, bits: number): Image {
  const mask = ~((1 << (8 - bits)) - 1) & 0xff;
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = i & mask;
  return applyLut(img, lut);
}

/** Inverts values at or above the threshold. */
export function solarize(img: Image, threshold: number): Image {
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = i < threshold ? i : 255 - i;
  return applyLut(img, lut);
}

export function invert(img: Image): Image {
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = 255 - i;
  return applyLut(img, lut);
}

function histograms(img: Image): Float64Array[] {
  const c = img.channels;
  const hs = Array.from({ length: c }, () => new Float64Array(256));
  const d = img.data;
  for (let i = 0; i < d.length; i++) hs[i % c]![d[i]!]!++;
  return hs;
}

/** PIL ImageOps.autocontrast (cutoff 0): stretch each channel's [min, max] to [0, 255]. */
export function autocontrast(img: Image): Image {
  const hs = histograms(img);
  return applyLut(img, (k) => {
    const h = hs[k]!;
    const lut = new Uint8Array(256);
    let lo = 0;
    while (lo < 256 && h[lo] === 0) lo++;
    let hi = 255;
    while (hi >= 0 && h[hi] === 0) hi--;
    if (hi <= lo) {
      for (let i = 0; i < 256; i++) lut[i] = i;
    } else {
      const scale = 255 / (hi - lo);
      const offset = -lo * scale;
      for (let i = 0; i < 256; i++) {
        const v = Math.trunc(i * scale + offset);
        lut[i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
    return lut;
  });
}

/** PIL ImageOps.equalize: per-channel histogram equalization with PIL's integer step arithmetic. */
export function equalize(img: Image): Image {
  const hs = histograms(img);
  return applyLut(img, (k) => {
    const h = hs[k]!;
    const lut = new Uint8Array(256);
    let last = 0;
    let total = 0;
    let nonzero = 0;
    for (let i = 0; i < 256; i++) {
      if (h[i]! > 0) {
        nonzero++;
        last = h[i]!;
        total += h[i]!;
      }
    }
    const step = Math.floor((total - last) / 255);
    if (nonzero <= 1 || step === 0) {
      for (let i = 0; i < 256; i++) lut[i] = i;
      return lut;
    }
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      lut[i] = Math.min(255, Math.floor(n / step));
      n += h[i]!;
    }
    return lut;
  });
}
