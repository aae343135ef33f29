/**
 * Argument checks shared by the ops and the tensor constructors: dtype support on the adapter, one device,
 * float operands. Type-only use of Tensor, so every op module can import them without an import cycle.
 */
import type { Device } from "./device.js";
import type { DType } from "./dtype.js";
import { DTypeError, FeatureError, ShapeError } from "./errors.js";
import type { Tensor } from "./tensor.js";

export function checkDType(device: Device, dtype: DType, op: string): void {
  if (dtype === "f16" && !device.hasFeature("shader-f16")) {
    throw new FeatureError(
      `${op}: dtype f16 needs the adapter feature "shader-f16", which ${device.adapter.description || device.adapter.device} ` +
        "lacks. Use f32 or bf16 (storage) instead.",
    );
  }
}

/** Throws unless every tensor is on `device`. */
export function sameDevice(op: string, ...ts: Tensor[]): Device {
  const d = ts[0]!.device;
  for (const t of ts) {
    if (t.device !== d) {
      throw new ShapeError(`${op}: tensors live on different devices (#${d.id} and #${t.device.id}); copy one first.`);
    }
    void t.storage; // throws DisposedError naming the tensor
  }
  return d;
}

export function requireFloat(op: string, t: Tensor, allowed: DType[] = ["f32", "f16"]): void {
  if (!allowed.includes(t.dtype)) {
    throw new DTypeError(
      `${op}: got ${t.describe()}, but this op takes ${allowed.join(" or ")}. ` +
        (t.dtype === "bf16" ? "bf16 is a storage type: cast(t, 'f32') first." : "Cast it first (cast(t, 'f32'))."),
    );
  }
}
