/**
 * Tensor: a shaped, typed view of a GPU buffer on one Device. Always contiguous (row-major); `reshape`
 * shares storage, every other op writes a new buffer. Storage is reference-counted so that views and the
 * autograd graph can hold it after the tensor that made it is disposed.
 */
import type { GradNode } from "./autograd.js";
import { backwardFrom } from "./backward.js";
import type { Device } from "./device.js";
import { type DType, type HostArray, storageBytes } from "./dtype.js";
import { DisposedError, fmtShape } from "./errors.js";
import { readTensor } from "./host.js";
import { track } from "./scope.js";

export class Storage {
  private refs = 1;
  constructor(
    readonly device: Device,
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) this.device.allocator.release(this.buffer);
  }
}

let nextId = 0;

export class Tensor {
  readonly isTensor = true;
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly numel: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradNode | null = null;
  /** Optional name (parameters), used in messages. */
  name?: string;
  /** The scope that will dispose this tensor; see scope.ts. */
  scopeSet: Set<Tensor> | undefined;
  private storage_: Storage | null;

  constructor(
    readonly device: Device,
    shape: readonly number[],
    readonly dtype: DType,
    storage?: Storage,
  ) {
    this.shape = Object.freeze([...shape]);
    this.numel = shape.reduce((a, b) => a * b, 1);
    this.storage_ = storage ?? new Storage(device, device.allocator.alloc(storageBytes(dtype, this.numel), "tensor"), storageBytes(dtype, this.numel));
    device.liveTensors++;
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage_ === null;
  }

  get storage(): Storage {
    if (!this.storage_) {
      throw new DisposedError(
        `Tensor ${this.describe()} was disposed and cannot be used. Keep it alive (keep(t), or return it ` +
          "from the scope that made it) until its last use.",
      );
    }
    return this.storage_;
  }

  /** The GPU buffer (may be larger than the data: allocator size classes). */
  get buffer(): GPUBuffer {
    return this.storage.buffer;
  }

  describe(): string {
    return `${this.name ? `"${this.name}" ` : ""}${fmtShape(this.shape)} ${this.dtype}${this.storage_ ? "" : " (disposed)"}`;
  }

  toString(): string {
    return `Tensor(${this.describe()})`;
  }

  /** Copies the values to the host. f16 and bf16 are widened to Float32Array. */
  async data(): Promise<HostArray> {
    return readTensor(this) as Promise<HostArray>;
  }

  /** Frees the GPU memory now (idempotent). Its gradient is disposed too. */
  dispose(): void {
    if (!this.storage_) return;
    this.storage_.release();
    this.storage_ = null;
    this.device.liveTensors--;
    this.scopeSet?.delete(this);
    this.scopeSet = undefined;
    // gradFn stays: a disposed view inside a graph (reshape) must still route gradients to its input.
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Back-propagates from this tensor (a scalar unless `grad` is given). */
  backward(grad?: Tensor): void {
    backwardFrom([this], [grad]);
  }

  /**
   * A new uninitialised tensor on this tensor's device (torch's new_empty). Ops that must not import this
   * module (the backward engine and the kernels it uses) make their outputs through it.
   */
  newEmpty(shape: readonly number[], dtype: DType = this.dtype): Tensor {
    return new Tensor(this.device, shape, dtype);
  }

  /** A view with a new shape sharing this tensor's storage (no copy). Not differentiable: use ops.reshape. */
  view(shape: readonly number[]): Tensor {
    return new Tensor(this.device, shape, this.dtype, this.storage.retain());
  }
}
