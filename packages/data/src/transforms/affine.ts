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

/** Pillow's Image.transform(AFFINE, matrix, NEAREST): samples at pixel centres, fills outside with `fill`. */
export function warpAffineNearest(img: Image, m: readonly number[], fill = 0): Image {
  const { width: w, height: h, channels: c } = img;
  const [a, b, cc, d, e, f] = m as [number, number, number, number, number, number];
  const out = new Uint8Array(img.data.length);
  if (fill !== 0) out.fill(fill);
  const src = img.data;
  for (let y = 0; y < h; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < w; x++) {
      const xc = x + 0.5;
      const xf = a * xc + b * yc + cc;
      const yf = d * xc + e * yc + f;
      // Pillow's COORD(): truncation, with everything below zero treated as outside.
      const xi = xf < 0 ? -1 : Math.trunc(xf);
      const yi = yf < 0 ? -1 : Math.trunc(yf);
      if (xi < 0 || yi < 0 || xi >= w || yi >= h) continue;
      const s = (yi * w + xi) * c;
      const o = (y * w + x) * c;
      for (let k = 0; k < c; k++) out[o + k] = src[s + k]!;
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
  const m = inverseAffineMatrix(center, opts.angle ?? 0, opts.translate ?? [0, 0], opts.scale ?? 1, opts.shear ?? [0, 0]);
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
