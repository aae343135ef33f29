/**
 * Parameter initialisers, all drawn on the GPU from the device's Philox stream (no host round trip,
 * which matters for a 1.8B-parameter model).
 */
import { type Device, type Tensor, full, randn, truncNormal as tnormal, zeros } from "@vit/tensor";

export function normal(device: Device, shape: number[], std: number, mean = 0): Tensor {
  return randn(device, shape, mean, std);
}

export function zerosInit(device: Device, shape: number[]): Tensor {
  return zeros(device, shape);
}

export function constant(device: Device, shape: number[], value: number): Tensor {
  return full(device, shape, value);
}

/** N(mean, std²) truncated to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_), drawn on the GPU. */
export function truncNormal(device: Device, shape: number[], std: number, mean = 0, a = mean - 2 * std, b = mean + 2 * std): Tensor {
  return tnormal(device, shape, mean, std, a, b);
}

/** Megatron's scaled init for output projections: N(0, σ/√(2·num_layers)). */
export function scaledNormal(device: Device, shape: number[], std: number, numLayers: number): Tensor {
  return randn(device, shape, 0, std / Math.sqrt(2 * numLayers));
}

export type Init = (device: Device, shape: number[]) => Tensor;
