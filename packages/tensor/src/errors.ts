import { VitError } from "@vit/errors";

// The base of every user-facing error in vit lives in the dependency-free @vit/errors (the GPU-free
// @vit/data uses it too); re-exported so `import { VitError } from "@vit/tensor"` keeps working.
export { VitError, type VitErrorOptions } from "@vit/errors";

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
