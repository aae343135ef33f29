import { ConfigError } from "../errors.js";

/**
 * Transforms are plain data, not closures, because they must cross into worker threads; each worker compiles
 * the same list into functions. Build them with the helpers below (or `custom` for your own code).
 */
export type TransformSpec =
  | {
      op: "randomResizedCrop";
      size: [number, number];
      scale: [number, number];
      ratio: [number, number];
    }
  | { op: "randomHorizontalFlip"; p: number }
  | { op: "resize"; size: number | [number, number] }
  | { op: "centerCrop"; size: [number, number] }
  | {
      op: "colorJitter";
      brightness: [number, number] | null;
      contrast: [number, number] | null;
      saturation: [number, number] | null;
      hue: [number, number] | null;
    }
  | { op: "autoAugment"; policy: "imagenet"; fill: number }
  | { op: "randAugment"; numOps: number; magnitude: number; numMagnitudeBins: number; fill: number }
  | { op: "normalize"; mean: number[]; std: number[] }
  | { op: "custom"; module: string; name: string; options?: unknown };

export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

/** Eval-time crop fraction used by timm/DeiT: resize to size/0.875 (224 → 256), then centre-crop size. */
export const DEFAULT_CROP_FRACTION = 0.875;

function pair(size: number | readonly [number, number], what: string): [number, number] {
  const p: [number, number] = typeof size === "number" ? [size, size] : [size[0], size[1]];
  if (!p.every((v) => Number.isInteger(v) && v > 0)) {
    throw new ConfigError(
      `${what}: size must be a positive integer or [h, w], got ${String(size)}`,
      "pass e.g. 224",
    );
  }
  return p;
}

/** torchvision RandomResizedCrop: random area fraction in `scale`, aspect ratio in `ratio`, bilinear resize. */
export function randomResizedCrop(
  size: number | readonly [number, number],
  opts: { scale?: readonly [number, number]; ratio?: readonly [number, number] } = {},
): TransformSpec {
  const scale = opts.scale ?? [0.08, 1];
  const ratio = opts.ratio ?? [3 / 4, 4 / 3];
  if (!(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1) || !(ratio[0] > 0 && ratio[0] <= ratio[1])) {
    throw new ConfigError(
      `randomResizedCrop: bad scale ${scale} or ratio ${ratio}`,
      "use 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1]",
    );
  }
  return {
    op: "randomResizedCrop",
    size: pair(size, "randomResizedCrop"),
    scale: [scale[0], scale[1]],
    ratio: [ratio[0], ratio[1]],
  };
}

export function randomHorizontalFlip(p = 0.5): TransformSpec {
  return { op: "randomHorizontalFlip", p };
}

/** torchvision Resize (bilinear): a number sets the shorter side keeping aspect ratio; [h, w] is exact. */
export function resize(size: number | readonly [number, number]): TransformSpec {
  return { op: "resize", size: typeof size === "number" ? pair(size, "resize")[0] : pair(size, "resize") };
}

/** torchvision CenterCrop (zero-pads when the crop is larger than the image). */
export function centerCrop(size: number | readonly [number, number]): TransformSpec {
  return { op: "centerCrop", size: pair(size, "centerCrop") };
}

/** The standard eval transform: resize the shorter side to floor(size / cropFraction), centre-crop size. */
export function resizeCenterCrop(size: number, opts: { cropFraction?: number } = {}): TransformSpec[] {
  const f = opts.cropFraction ?? DEFAULT_CROP_FRACTION;
  if (!(f > 0 && f <= 1))
    throw new ConfigError(`resizeCenterCrop: cropFraction ${f}`, "use a value in (0, 1]");
  return [resize(Math.floor(size / f)), centerCrop(size)];
}

function jitterRange(v: number | readonly [number, number] | undefined, center: number, what: string) {
  if (v === undefined || v === 0) return null;
  if (typeof v === "number") {
    if (v < 0) throw new ConfigError(`colorJitter: ${what} must be >= 0`, "pass a non-negative number");
    return center === 0
      ? ([-v, v] as [number, number])
      : ([Math.max(0, center - v), center + v] as [number, number]);
  }
  return [v[0], v[1]] as [number, number];
}

/** torchvision ColorJitter: factors drawn per image, applied in a random order. */
export function colorJitter(
  opts: {
    brightness?: number | readonly [number, number];
    contrast?: number | readonly [number, number];
    saturation?: number | readonly [number, number];
    hue?: number | readonly [number, number];
  } = {},
): TransformSpec {
  const hue = jitterRange(opts.hue, 0, "hue");
  if (hue && (hue[0] < -0.5 || hue[1] > 0.5)) {
    throw new ConfigError(`colorJitter: hue range ${hue} outside [-0.5, 0.5]`, "pass hue <= 0.5");
  }
  return {
    op: "colorJitter",
    brightness: jitterRange(opts.brightness, 1, "brightness"),
    contrast: jitterRange(opts.contrast, 1, "contrast"),
    saturation: jitterRange(opts.saturation, 1, "saturation"),
    hue,
  };
}

/** AutoAugment with the ImageNet policy (torchvision's operations and magnitudes). */
export function autoAugment(opts: { policy?: "imagenet"; fill?: number } = {}): TransformSpec {
  return { op: "autoAugment", policy: opts.policy ?? "imagenet", fill: opts.fill ?? 0 };
}

/** RandAugment (torchvision defaults: 2 ops, magnitude 9 of 31 bins). */
export function randAugment(
  opts: { numOps?: number; magnitude?: number; numMagnitudeBins?: number; fill?: number } = {},
): TransformSpec {
  const bins = opts.numMagnitudeBins ?? 31;
  const magnitude = opts.magnitude ?? 9;
  if (!(Number.isInteger(magnitude) && magnitude >= 0 && magnitude < bins)) {
    throw new ConfigError(
      `randAugment: magnitude ${magnitude} outside [0, ${bins})`,
      "pick a bin index below numMagnitudeBins",
    );
  }
  return {
    op: "randAugment",
    numOps: opts.numOps ?? 2,
    magnitude,
    numMagnitudeBins: bins,
    fill: opts.fill ?? 0,
  };
}

/**
 * (x/255 − mean)/std per channel; must be the last transform. Defaults to ImageNet statistics. A one-value
 * mean/std applies to every channel.
 */
export function normalize(
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): TransformSpec {
  if (mean.length !== std.length || mean.length === 0 || std.some((s) => !(s > 0))) {
    throw new ConfigError(
      `normalize: mean ${mean} / std ${std}`,
      "pass equally long arrays with positive std",
    );
  }
  return { op: "normalize", mean: [...mean], std: [...std] };
}

/**
 * Your own per-sample transform, loaded inside each worker with `import(module)`. The export `name` is called
 * as `fn(image, { rng, index, epoch, options })` and returns an Image (or a promise of one). `module` must be
 * an absolute path or file:// URL of a JavaScript module.
 */
export function custom(module: string, name = "default", options?: unknown): TransformSpec {
  return { op: "custom", module, name, options };
}
