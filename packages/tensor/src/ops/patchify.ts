/**
 * Cuts NCHW images into flattened patches: [B, C, H, W] → [B, (H/P)·(W/P), P·P·C]. The element order
 * inside a patch is (p1 p2 c) as Megatron/NeMo's linear patch embedding expects, or (c p1 p2) as a
 * stride-P convolution's weight [D, C, P, P] reads it. Conv2d with stride = kernel is patchify + matmul.
 */
import { ShapeError, fmtShape } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { permute, reshape } from "./movement.js";

export function patchify(x: Tensor, patch: number, order: "p1 p2 c" | "c p1 p2" = "p1 p2 c"): Tensor {
  if (x.rank !== 4) throw new ShapeError(`patchify: images ${fmtShape(x.shape)} must be [batch, channels, height, width].`);
  const [B, C, H, W] = x.shape as [number, number, number, number];
  if (H % patch || W % patch) {
    throw new ShapeError(`patchify: image ${H}×${W} is not divisible by patch ${patch}; resize or crop to a multiple of ${patch}.`);
  }
  const h = H / patch;
  const w = W / patch;
  const r = reshape(x, [B, C, h, patch, w, patch]);
  const p = order === "p1 p2 c" ? permute(r, [0, 2, 4, 3, 5, 1]) : permute(r, [0, 2, 4, 1, 3, 5]);
  r.dispose();
  const out = reshape(p, [B, h * w, patch * patch * C]);
  if (!out.requiresGrad) p.dispose();
  return out;
}
