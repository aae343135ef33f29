/**
 * The one conversion of a data-loader batch into the model's input: an f32 tensor [B, C, H, W]. The loader
 * hands images as float32, as bfloat16 bit patterns (Uint16Array, `dtype: "bfloat16"`: half the bytes to
 * upload) or as raw uint8 pixels; reading the bf16 bits as numbers would feed the model integers, so each
 * kind is widened by what it is.
 */
import { type Device, ShapeError, Tensor, cast, noGrad, tensor } from "@vit/tensor";

/** A batch's pixels: float32 values, bfloat16 bit patterns (Uint16Array) or uint8 values. */
export type BatchImages = Float32Array | Uint16Array | Uint8Array;

/** The images of a loader batch (`{ images, shape }`) as an f32 tensor of that shape on `device`. */
export function batchToTensor(
  device: Device,
  batch: { images: BatchImages; shape: readonly number[] },
): Tensor {
  const { images, shape } = batch;
  if (images instanceof Float32Array) return tensor(device, images, shape);
  if (images instanceof Uint8Array) return tensor(device, Float32Array.from(images), shape);
  const n = shape.reduce((a, b) => a * b, 1);
  if (images.length !== n) {
    throw new ShapeError(
      `batch: ${images.length} bfloat16 values do not fill the batch shape [${shape.join(", ")}].`,
    );
  }
  // bf16: upload the bits as they are (a GPU buffer holds whole 4-byte words: pad an odd count) and widen
  // on the device, which is exact.
  const bits = n % 2 === 0 ? images : Uint16Array.from({ length: n + 1 }, (_, i) => images[i] ?? 0);
  const raw = new Tensor(device, shape, "bf16");
  device.upload(raw.buffer, bits);
  const x = noGrad(() => cast(raw, "f32"));
  raw.dispose();
  return x;
}
