import { checkDType } from "./checks.js";
/** Creating tensors from host data, constants and random draws (reading back: host.ts). */
import type { Device } from "./device.js";
import type { DType } from "./dtype.js";
import { ShapeError, fmtShape } from "./errors.js";
import { encode } from "./host.js";
import { FILL_FIELDS, type FillKind, fillKernel } from "./kernels/fill.js";
import { grid1D } from "./kernels/wgsl.js";
import { cast } from "./ops/cast.js";
import { nextOffset } from "./rng.js";
import { Tensor } from "./tensor.js";

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  name?: string;
}

function checkShape(shape: readonly number[], op: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${op}: shape ${JSON.stringify(shape)} must be an array of non-negative integers.`);
  }
}

/** Builds a tensor from host values, converting to `dtype` (default f32, or i32 for Int32Array). */
export function tensor(
  device: Device,
  values: ArrayLike<number> | Float32Array | Int32Array | Uint32Array,
  shape: readonly number[],
  opts: CreateOptions = {},
): Tensor {
  checkShape(shape, "tensor");
  const dtype =
    opts.dtype ?? (values instanceof Int32Array ? "i32" : values instanceof Uint32Array ? "u32" : "f32");
  checkDType(device, dtype, "tensor");
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) {
    throw new ShapeError(
      `tensor: ${values.length} values do not fill shape ${fmtShape(shape)} (${n} elements).`,
    );
  }
  const t = new Tensor(device, shape, dtype);
  device.upload(t.buffer, encode(values, dtype));
  if (opts.requiresGrad) t.requiresGrad = true;
  if (opts.name) t.name = opts.name;
  return t;
}

function fill(
  device: Device,
  shape: readonly number[],
  kind: FillKind,
  opts: CreateOptions,
  value = 0,
  a = 0,
  b = 1,
  hi = 0,
): Tensor {
  checkShape(shape, kind);
  const dtype = opts.dtype ?? "f32";
  checkDType(device, dtype, kind);
  if (dtype === "bf16") {
    // bf16 packs two values per word; draw in f32 and convert so each thread writes whole words.
    const f = fill(device, shape, kind, { dtype: "f32" }, value, a, b, hi);
    const out = cast(f, "bf16");
    f.dispose();
    if (opts.requiresGrad) out.requiresGrad = true;
    if (opts.name) out.name = opts.name;
    return out;
  }
  const t = new Tensor(device, shape, dtype);
  const offset = kind === "const" ? 0 : nextOffset(device.rng);
  device.run({
    name: `fill_${kind}`,
    kernel: fillKernel,
    variant: { kind, dtype },
    buffers: [t.buffer],
    uniforms: { fields: FILL_FIELDS, values: [t.numel, value, device.rng.seed, offset, a, b, hi] },
    workgroups: grid1D(t.numel),
  });
  if (opts.requiresGrad) t.requiresGrad = true;
  if (opts.name) t.name = opts.name;
  return t;
}

export function full(
  device: Device,
  shape: readonly number[],
  value: number,
  opts: CreateOptions = {},
): Tensor {
  return fill(device, shape, "const", opts, value);
}
export function zeros(device: Device, shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return fill(device, shape, "const", opts, 0);
}
export function ones(device: Device, shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return fill(device, shape, "const", opts, 1);
}
/** Uniform in [low, high) from the device's Philox stream (seed, next offset). */
export function rand(
  device: Device,
  shape: readonly number[],
  low = 0,
  high = 1,
  opts: CreateOptions = {},
): Tensor {
  return fill(device, shape, "uniform", opts, 0, low, high);
}
/** Normal(mean, std) from the device's Philox stream. */
export function randn(
  device: Device,
  shape: readonly number[],
  mean = 0,
  std = 1,
  opts: CreateOptions = {},
): Tensor {
  return fill(device, shape, "normal", opts, 0, mean, std);
}
/**
 * Normal(mean, std) truncated to [lo, hi] (absolute bounds, as torch.nn.init.trunc_normal_; default
 * ±2 std), sampled exactly by the inverse CDF.
 */
export function truncNormal(
  device: Device,
  shape: readonly number[],
  mean = 0,
  std = 1,
  lo = mean - 2 * std,
  hi = mean + 2 * std,
  opts: CreateOptions = {},
): Tensor {
  const cdf = (x: number) => 0.5 * (1 + erfHost((x - mean) / (std * Math.SQRT2)));
  return fill(device, shape, "truncnormal", opts, cdf(lo), mean, std, cdf(hi));
}

/** erf on the host (Abramowitz & Stegun 7.1.26; only bounds the sampling interval). */
function erfHost(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return zeros(t.device, t.shape, { dtype: t.dtype, ...opts });
}
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return ones(t.device, t.shape, { dtype: t.dtype, ...opts });
}
