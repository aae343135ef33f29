import type { Image } from "../image.js";

/**
 * Nearest-neighbour affine warps as torchvision's PIL path performs them (AutoAugment/RandAugment use
 * NEAREST): torchvision builds the inverse matrix, Pillow evaluates it at output pixel centres and truncates.
 */

/** Inverse affine matrix [a, b, c, d, e, f] mapping output (x, y) to input, as torchvision computes it. */
export function inverseAffineMatrix(
  center: readonly [number, number],
  angleDeg: number,
  translate: readonly [number, number],
  scale: number,
  shearDeg: readonly [number, number],
): number[] {
  const rot = (angleDeg * Math.PI) / 180;
  const sx = (shearDeg[0] * Math.PI) / 180;
  const sy = (shearDeg[1] * Math.PI) / 180;
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((v) => v / scale) as [number, number, number, number, number, number];
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/**
 * Pillow's Image.transform(AFFINE, matrix, NEAREST), including its arithmetic: pure scale/translate matrices
 * step in floating point, everything else in 16.16 fixed point. Matching that matters at exact pixel-boundary
 * ties (e.g. a 0.2 shear), where the fixed-point rounding of the coefficients decides which pixel is taken.
 */
export function warpAffineNearest(img: Image, m: readonly number[], fill = 0): Image {
  const { width: w, height: h, channels: c } = img;
  const [a0, a1, a2, a3, a4, a5] = m as [number, number, number, number, number, number];
  const out = new Uint8Array(img.data.length);
  if (fill !== 0) out.fill(fill);
  const src = img.data;
  const put = (x: number, y: number, xi: number, yi: number) => {
    if (xi < 0 || yi < 0 || xi >= w || yi >= h) return;
    const s = (yi * w + xi) * c;
    const o = (y * w + x) * c;
    for (let k = 0; k < c; k++) out[o + k] = src[s + k]!;
  };
  const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v));
  if (a1 === 0 && a3 === 0) {
    const xs = new Int32Array(w);
    let xo = a2 + a0 * 0.5;
    for (let x = 0; x < w; x++, xo += a0) xs[x] = coord(xo);
    let yo = a5 + a4 * 0.5;
    for (let y = 0; y < h; y++, yo += a4) {
      const yi = coord(yo);
      for (let x = 0; x < w; x++) put(x, y, xs[x]!, yi);
    }
    return { data: out, width: w, height: h, channels: c };
  }
  const fits = (x: number, y: number) =>
    Math.abs(x * a0 + y * a1 + a2) < 32768 && Math.abs(x * a3 + y * a4 + a5) < 32768;
  if (fits(0, 0) && fits(w, h) && fits(0, h) && fits(w, 0)) {
    const fix = (v: number) => Math.floor(v * 65536 + 0.5);
    const f0 = fix(a0);
    const f1 = fix(a1);
    const f3 = fix(a3);
    const f4 = fix(a4);
    let f2 = fix(a2 + a0 * 0.5 + a1 * 0.5);
    let f5 = fix(a5 + a3 * 0.5 + a4 * 0.5);
    for (let y = 0; y < h; y++, f2 += f1, f5 += f4) {
      let xx = f2;
      let yy = f5;
      for (let x = 0; x < w; x++, xx += f0, yy += f3)
        put(x, y, Math.floor(xx / 65536), Math.floor(yy / 65536));
    }
    return { data: out, width: w, height: h, channels: c };
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const xc = x + 0.5;
      const yc = y + 0.5;
      put(x, y, coord(a0 * xc + a1 * yc + a2), coord(a3 * xc + a4 * yc + a5));
    }
  }
  return { data: out, width: w, height: h, channels: c };
}

/** torchvision F.affine on a PIL image; `center` defaults to the image centre (w/2, h/2). */
export function affine(
  img: Image,
  opts: {
    angle?: number;
    translate?: readonly [number, number];
    scale?: number;
    shear?: readonly [number, number];
    center?: readonly [number, number];
    fill?: number;
  },
): Image {
  const center = opts.center ?? [img.width * 0.5, img.height * 0.5];
  const m = inverseAffineMatrix(
    center,
    opts.angle ?? 0,
    opts.translate ?? [0, 0],
    opts.scale ?? 1,
    opts.shear ?? [0, 0],
  );
  return warpAffineNearest(img, m, opts.fill ?? 0);
}

/** PIL Image.rotate(angle) counter-clockwise about the centre, same size, NEAREST. */
export function rotate(img: Image, angleDeg: number, fill = 0): Image {
  const angle = -(((angleDeg % 360) + 360) % 360) * (Math.PI / 180);
  // Pillow rounds the trigonometric terms to 15 decimals so that right angles are exact.
  const r15 = (v: number) => Math.round(v * 1e15) / 1e15;
  const m = [r15(Math.cos(angle)), r15(Math.sin(angle)), 0, r15(-Math.sin(angle)), r15(Math.cos(angle)), 0];
  const cx = img.width / 2;
  const cy = img.height / 2;
  m[2] = m[0]! * -cx + m[1]! * -cy + cx;
  m[5] = m[3]! * -cx + m[4]! * -cy + cy;
  return warpAffineNearest(img, m, fill);
}
