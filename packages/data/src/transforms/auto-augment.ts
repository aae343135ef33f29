import type { Image } from "../image.js";
import type { Rng } from "../rng.js";
import { affine, rotate } from "./affine.js";
import {
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustSharpness,
  autocontrast,
  equalize,
  invert,
  posterize,
  solarize,
} from "./color.js";

/**
 * AutoAugment (ImageNet policy) and RandAugment with torchvision's operation set, magnitude bins, sign
 * handling and NEAREST interpolation, so hyper-parameters from torchvision/timm recipes carry over.
 */

export type AugOp =
  | "Identity"
  | "ShearX"
  | "ShearY"
  | "TranslateX"
  | "TranslateY"
  | "Rotate"
  | "Brightness"
  | "Color"
  | "Contrast"
  | "Sharpness"
  | "Posterize"
  | "Solarize"
  | "AutoContrast"
  | "Equalize"
  | "Invert";

function linspace(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  return Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
}

/** Magnitudes per operation for `bins` bins and an image of height x width, and whether they take a sign. */
export function augmentationSpace(
  bins: number,
  height: number,
  width: number,
): Record<Exclude<AugOp, "Identity">, { magnitudes: number[] | null; signed: boolean }> {
  return {
    ShearX: { magnitudes: linspace(0, 0.3, bins), signed: true },
    ShearY: { magnitudes: linspace(0, 0.3, bins), signed: true },
    TranslateX: { magnitudes: linspace(0, (150 / 331) * width, bins), signed: true },
    TranslateY: { magnitudes: linspace(0, (150 / 331) * height, bins), signed: true },
    Rotate: { magnitudes: linspace(0, 30, bins), signed: true },
    Brightness: { magnitudes: linspace(0, 0.9, bins), signed: true },
    Color: { magnitudes: linspace(0, 0.9, bins), signed: true },
    Contrast: { magnitudes: linspace(0, 0.9, bins), signed: true },
    Sharpness: { magnitudes: linspace(0, 0.9, bins), signed: true },
    // torch's round() is half-to-even, like Math.round except at exact halves.
    Posterize: {
      magnitudes: Array.from({ length: bins }, (_, i) => 8 - roundHalfEven(i / ((bins - 1) / 4))),
      signed: false,
    },
    Solarize: { magnitudes: linspace(255, 0, bins), signed: false },
    AutoContrast: { magnitudes: null, signed: false },
    Equalize: { magnitudes: null, signed: false },
    Invert: { magnitudes: null, signed: false },
  };
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return Math.round(x);
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's _apply_op on an 8-bit image. */
export function applyOp(img: Image, op: AugOp, magnitude: number, fill = 0): Image {
  switch (op) {
    case "Identity":
      return img;
    case "ShearX":
      return affine(img, { shear: [(Math.atan(magnitude) * 180) / Math.PI, 0], center: [0, 0], fill });
    case "ShearY":
      return affine(img, { shear: [0, (Math.atan(magnitude) * 180) / Math.PI], center: [0, 0], fill });
    case "TranslateX":
      return affine(img, { translate: [Math.trunc(magnitude), 0], fill });
    case "TranslateY":
      return affine(img, { translate: [0, Math.trunc(magnitude)], fill });
    case "Rotate":
      return rotate(img, magnitude, fill);
    case "Brightness":
      return adjustBrightness(img, 1 + magnitude);
    case "Color":
      return adjustSaturation(img, 1 + magnitude);
    case "Contrast":
      return adjustContrast(img, 1 + magnitude);
    case "Sharpness":
      return adjustSharpness(img, 1 + magnitude);
    case "Posterize":
      return posterize(img, Math.trunc(magnitude));
    case "Solarize":
      return solarize(img, magnitude);
    case "AutoContrast":
      return autocontrast(img);
    case "Equalize":
      return equalize(img);
    case "Invert":
      return invert(img);
  }
}

type SubPolicy = readonly [readonly [AugOp, number, number | null], readonly [AugOp, number, number | null]];

/** The ImageNet policy of Cubuk et al. (2019), as listed by torchvision: (op, probability, magnitude bin). */
export const IMAGENET_POLICY: readonly SubPolicy[] = [
  [
    ["Posterize", 0.4, 8],
    ["Rotate", 0.6, 9],
  ],
  [
    ["Solarize", 0.6, 5],
    ["AutoContrast", 0.6, null],
  ],
  [
    ["Equalize", 0.8, null],
    ["Equalize", 0.6, null],
  ],
  [
    ["Posterize", 0.6, 7],
    ["Posterize", 0.6, 6],
  ],
  [
    ["Equalize", 0.4, null],
    ["Solarize", 0.2, 4],
  ],
  [
    ["Equalize", 0.4, null],
    ["Rotate", 0.8, 8],
  ],
  [
    ["Solarize", 0.6, 3],
    ["Equalize", 0.6, null],
  ],
  [
    ["Posterize", 0.8, 5],
    ["Equalize", 1.0, null],
  ],
  [
    ["Rotate", 0.2, 3],
    ["Solarize", 0.6, 8],
  ],
  [
    ["Equalize", 0.6, null],
    ["Posterize", 0.4, 6],
  ],
  [
    ["Rotate", 0.8, 8],
    ["Color", 0.4, 0],
  ],
  [
    ["Rotate", 0.4, 9],
    ["Equalize", 0.6, null],
  ],
  [
    ["Equalize", 0.0, null],
    ["Equalize", 0.8, null],
  ],
  [
    ["Invert", 0.6, null],
    ["Equalize", 1.0, null],
  ],
  [
    ["Color", 0.6, 4],
    ["Contrast", 1.0, 8],
  ],
  [
    ["Rotate", 0.8, 8],
    ["Color", 1.0, 2],
  ],
  [
    ["Color", 0.8, 8],
    ["Solarize", 0.8, 7],
  ],
  [
    ["Sharpness", 0.4, 7],
    ["Invert", 0.6, null],
  ],
  [
    ["ShearX", 0.6, 5],
    ["Equalize", 1.0, null],
  ],
  [
    ["Color", 0.4, 0],
    ["Equalize", 0.6, null],
  ],
  [
    ["Equalize", 0.4, null],
    ["Solarize", 0.2, 4],
  ],
  [
    ["Solarize", 0.6, 5],
    ["AutoContrast", 0.6, null],
  ],
  [
    ["Invert", 0.6, null],
    ["Equalize", 1.0, null],
  ],
  [
    ["Color", 0.6, 4],
    ["Contrast", 1.0, 8],
  ],
  [
    ["Equalize", 0.8, null],
    ["Equalize", 0.6, null],
  ],
];

/** The random choices AutoAugment makes for one image; exposed so tests can replay them. */
export interface AutoAugmentDraw {
  policy: number;
  probs: [number, number];
  signs: [number, number];
}

export function drawAutoAugment(rng: Rng): AutoAugmentDraw {
  return {
    policy: rng.int(IMAGENET_POLICY.length),
    probs: [rng.next(), rng.next()],
    signs: [rng.int(2), rng.int(2)],
  };
}

export function autoAugmentImage(img: Image, draw: AutoAugmentDraw, fill = 0): Image {
  const space = augmentationSpace(10, img.height, img.width);
  const sub = IMAGENET_POLICY[draw.policy]!;
  let out = img;
  for (let i = 0; i < 2; i++) {
    const [op, p, bin] = sub[i]!;
    if (draw.probs[i]! <= p) {
      const meta = space[op as Exclude<AugOp, "Identity">];
      let magnitude = bin !== null && meta.magnitudes ? meta.magnitudes[bin]! : 0;
      if (meta.signed && draw.signs[i] === 0) magnitude = -magnitude;
      out = applyOp(out, op, magnitude, fill);
    }
  }
  return out;
}

const RAND_AUGMENT_OPS: readonly AugOp[] = [
  "Identity",
  "ShearX",
  "ShearY",
  "TranslateX",
  "TranslateY",
  "Rotate",
  "Brightness",
  "Color",
  "Contrast",
  "Sharpness",
  "Posterize",
  "Solarize",
  "AutoContrast",
  "Equalize",
];

export interface RandAugmentOptions {
  numOps: number;
  magnitude: number;
  numMagnitudeBins: number;
  fill?: number;
}

/** torchvision RandAugment: `numOps` uniformly chosen operations at a fixed magnitude bin, random sign. */
export function randAugmentImage(img: Image, rng: Rng, opts: RandAugmentOptions): Image {
  let out = img;
  for (let k = 0; k < opts.numOps; k++) {
    const op = RAND_AUGMENT_OPS[rng.int(RAND_AUGMENT_OPS.length)]!;
    let magnitude = 0;
    let signed = false;
    if (op !== "Identity") {
      const meta = augmentationSpace(opts.numMagnitudeBins, out.height, out.width)[op];
      signed = meta.signed;
      magnitude = meta.magnitudes ? meta.magnitudes[opts.magnitude]! : 0;
    }
    // torchvision draws the sign only for signed ops; keep the same number of draws per op.
    if (signed && rng.int(2) === 1) magnitude = -magnitude;
    out = applyOp(out, op, magnitude, opts.fill ?? 0);
  }
  return out;
}
