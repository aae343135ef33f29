/** Base class of every error this package throws, so callers can tell ours from the platform's. */
export class VitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Operand shapes do not fit the op. The message names the op, the shapes and what would fit. */
export class ShapeError extends VitError {}

/** Wrong dtype for an op, or a dtype the adapter cannot run (f16 without shader-f16). */
export class DTypeError extends VitError {}

/** The adapter lacks a feature or limit the request needs. */
export class FeatureError extends VitError {}

/** A disposed tensor was used. */
export class DisposedError extends VitError {}

/** Autograd misuse: backward on a non-scalar without a gradient, on a tensor that needs no grad, ... */
export class AutogradError extends VitError {}

/** The GPU reported a validation or out-of-memory error, or the device was lost. */
export class GPUError extends VitError {}

/** No WebGPU adapter could be found. The message says what to install. */
export class NoAdapterError extends VitError {}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
