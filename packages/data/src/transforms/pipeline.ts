import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../errors.js";
import type { Image } from "../image.js";
import type { Rng } from "../rng.js";
import { autoAugmentImage, drawAutoAugment, randAugmentImage } from "./auto-augment.js";
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation } from "./color.js";
import { centerCropImage, randomResizedCropImage, resizeImage } from "./geometry.js";
import { hflip } from "./resample.js";
import type { TransformSpec } from "./spec.js";

export interface SampleContext {
  rng: Rng;
  index: number;
  epoch: number;
}

/** Context handed to custom transforms. */
export interface CustomTransformContext extends SampleContext {
  options: unknown;
}

export type CustomTransform = (img: Image, ctx: CustomTransformContext) => Image | Promise<Image>;

type Step = { label: string; run: (img: Image, ctx: SampleContext) => Image | Promise<Image> };

export interface CompiledPipeline {
  steps: Step[];
  /** Mean/std from a trailing normalize(), else null (plain x/255). */
  normalize: { mean: number[]; std: number[] } | null;
  /**
   * Set when the first step is randomResizedCrop. Encoded sources (folders, WebDataset) then draw its box from
   * the header's image size and decode only the box (see processBatch); `steps[0]` is skipped for them and the
   * decoded box is resized to `size` — the same pixels, since the step itself only resamples that box.
   */
  cropOnDecode: { size: [number, number]; scale: [number, number]; ratio: [number, number] } | null;
  /**
   * Probability of a randomHorizontalFlip that is the last step. The batch writer then mirrors while it writes
   * the tensor instead of copying the image once more; its draw stays the sample's last, as in `steps`.
   */
  flipLast: number | null;
}

/** Applies ColorJitter's four adjustments in a random order with randomly drawn factors (torchvision order of draws). */
function colorJitterStep(t: Extract<TransformSpec, { op: "colorJitter" }>): Step["run"] {
  return (img, { rng }) => {
    const order = rng.permutation(4);
    const b = t.brightness ? rng.uniform(t.brightness[0], t.brightness[1]) : null;
    const c = t.contrast ? rng.uniform(t.contrast[0], t.contrast[1]) : null;
    const s = t.saturation ? rng.uniform(t.saturation[0], t.saturation[1]) : null;
    const h = t.hue ? rng.uniform(t.hue[0], t.hue[1]) : null;
    let out = img;
    for (const fn of order) {
      if (fn === 0 && b !== null) out = adjustBrightness(out, b);
      else if (fn === 1 && c !== null) out = adjustContrast(out, c);
      else if (fn === 2 && s !== null) out = adjustSaturation(out, s);
      else if (fn === 3 && h !== null) out = adjustHue(out, h);
    }
    return out;
  };
}

async function loadCustom(t: Extract<TransformSpec, { op: "custom" }>): Promise<Step["run"]> {
  const url = t.module.startsWith("file:")
    ? t.module
    : isAbsolute(t.module)
      ? pathToFileURL(t.module).href
      : null;
  if (!url) {
    throw new ConfigError(
      `custom transform module "${t.module}" is not absolute`,
      "pass an absolute path or file:// URL",
    );
  }
  const mod = (await import(url)) as Record<string, unknown>;
  const fn = mod[t.name];
  if (typeof fn !== "function") {
    throw new ConfigError(
      `custom transform: ${t.module} has no function export "${t.name}"`,
      "check the export name",
    );
  }
  const f = fn as CustomTransform;
  return (img, ctx) => f(img, { ...ctx, options: t.options });
}

const KNOWN_OPS = new Set([
  "randomResizedCrop",
  "randomHorizontalFlip",
  "resize",
  "centerCrop",
  "colorJitter",
  "autoAugment",
  "randAugment",
  "normalize",
  "custom",
]);

/**
 * Checks a transform list where it is built, so a mistake fails the DataLoader constructor instead of the
 * first batch inside a worker.
 */
export function validateTransforms(specs: readonly TransformSpec[], channels: number): void {
  specs.forEach((t, i) => {
    if (!t || !KNOWN_OPS.has(t.op)) {
      throw new ConfigError(
        `unknown transform ${JSON.stringify(t)}`,
        "build transforms with the T.* helpers",
      );
    }
    if (t.op === "normalize") {
      if (i !== specs.length - 1) {
        throw new ConfigError(`transform ${specs[i + 1]!.op} follows normalize`, "put normalize() last");
      }
      // A custom transform may change the channel count; then only the worker can check.
      if (!specs.some((x) => x.op === "custom")) tensorLuts(channels, t);
    }
  });
}

/** Turns transform specs into functions; custom modules are imported here, once per thread. */
export async function compilePipeline(specs: readonly TransformSpec[]): Promise<CompiledPipeline> {
  const steps: Step[] = [];
  let norm: CompiledPipeline["normalize"] = null;
  for (let i = 0; i < specs.length; i++) {
    const t = specs[i]!;
    if (norm) {
      throw new ConfigError(
        `transform ${t.op} follows normalize`,
        "put normalize() last: it produces the float tensor",
      );
    }
    switch (t.op) {
      case "randomResizedCrop":
        steps.push({
          label: t.op,
          run: (img, { rng }) => randomResizedCropImage(img, rng, t.size, t.scale, t.ratio),
        });
        break;
      case "randomHorizontalFlip":
        steps.push({ label: t.op, run: (img, { rng }) => (rng.next() < t.p ? hflip(img) : img) });
        break;
      case "resize":
        steps.push({ label: t.op, run: (img) => resizeImage(img, t.size) });
        break;
      case "centerCrop":
        steps.push({ label: t.op, run: (img) => centerCropImage(img, t.size) });
        break;
      case "colorJitter":
        steps.push({ label: t.op, run: colorJitterStep(t) });
        break;
      case "autoAugment":
        steps.push({
          label: t.op,
          run: (img, { rng }) => autoAugmentImage(img, drawAutoAugment(rng), t.fill),
        });
        break;
      case "randAugment":
        steps.push({ label: t.op, run: (img, { rng }) => randAugmentImage(img, rng, t) });
        break;
      case "normalize":
        norm = { mean: t.mean, std: t.std };
        break;
      case "custom":
        steps.push({ label: `custom(${t.name})`, run: await loadCustom(t) });
        break;
      default:
        throw new ConfigError(
          `unknown transform ${(t as { op: string }).op}`,
          "build transforms with the helpers",
        );
    }
  }
  const first = specs[0];
  const last = steps.length > 0 ? specs[steps.length - 1] : undefined;
  return {
    steps,
    normalize: norm,
    cropOnDecode:
      first?.op === "randomResizedCrop" ? { size: first.size, scale: first.scale, ratio: first.ratio } : null,
    flipLast: last?.op === "randomHorizontalFlip" ? last.p : null,
  };
}

/**
 * Per-channel lookup tables from byte value to output float: a 256-entry table per channel makes
 * ToTensor+Normalize one load per pixel.
 */
export function tensorLuts(channels: number, norm: CompiledPipeline["normalize"]): Float32Array[] {
  if (norm && norm.mean.length !== 1 && norm.mean.length !== channels) {
    throw new ConfigError(
      `normalize has ${norm.mean.length} means but images have ${channels} channel(s)`,
      channels === 1
        ? "use one-channel statistics (e.g. FASHION_MNIST_MEAN/STD) or set channels: 3 on the loader"
        : "pass one mean/std per channel",
    );
  }
  return Array.from({ length: channels }, (_, c) => {
    const lut = new Float32Array(256);
    const mean = norm ? norm.mean[norm.mean.length === 1 ? 0 : c]! : 0;
    const std = norm ? norm.std[norm.std.length === 1 ? 0 : c]! : 1;
    for (let v = 0; v < 256; v++) lut[v] = (v / 255 - mean) / std;
    return lut;
  });
}

/**
 * Writes an HWC byte image as CHW floats at `out[offset..]`; `mirror` flips it left to right on the way
 * (what a final RandomHorizontalFlip would have done, without another copy of the image).
 */
export function writeChw(
  img: Image,
  luts: Float32Array[],
  out: Float32Array,
  offset: number,
  mirror = false,
): void {
  const { width: w, height: h, channels: c, data } = img;
  const plane = w * h;
  // Destination index of a row's first pixel and the step between neighbours: -1 walks the row backwards.
  const first = mirror ? w - 1 : 0;
  const step = mirror ? -1 : 1;
  if (c === 3) {
    // One sequential sweep over the interleaved bytes feeding three planes beats three strided sweeps.
    const l0 = luts[0]!;
    const l1 = luts[1]!;
    const l2 = luts[2]!;
    for (let y = 0, s = 0; y < h; y++) {
      let p = offset + y * w + first;
      for (let x = 0; x < w; x++, s += 3, p += step) {
        out[p] = l0[data[s]!]!;
        out[p + plane] = l1[data[s + 1]!]!;
        out[p + 2 * plane] = l2[data[s + 2]!]!;
      }
    }
    return;
  }
  const lut = luts[0]!;
  for (let y = 0, s = 0; y < h; y++) {
    let p = offset + y * w + first;
    for (let x = 0; x < w; x++, s++, p += step) out[p] = lut[data[s]!]!;
  }
}
