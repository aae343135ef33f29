/**
 * Fused softmax + cross-entropy with label smoothing (timm/PyTorch semantics: the target distribution
 * is (1−ε)·onehot + ε/C), or with soft targets (mixup/cutmix). Returns the batch mean. Forward keeps the
 * per-row log-sum-exp so backward is one element-wise kernel: (softmax − q)·g/B.
 */
import { needsGrad, record } from "../autograd.js";
import { sameDevice } from "../checks.js";
import { DTypeError, ShapeError } from "../errors.js";
import { CE_FIELDS, crossEntropyBackwardKernel, crossEntropyKernel } from "../kernels/cross-entropy.js";
import { grid1D } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";
import { cast } from "./cast.js";
import { mean } from "./reduce.js";

export interface CrossEntropyOptions {
  labelSmoothing?: number;
}

/**
 * logits [B, C] f32; target: labels [B] i32 in [0, C), or soft targets [B, C] f32 (rows summing to 1).
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const device = sameDevice("cross_entropy", logits, target);
  // The loss is f32 whatever the logits' storage (torch.autocast runs cross_entropy in f32).
  if (logits.dtype === "bf16" || logits.dtype === "f16")
    return crossEntropy(cast(logits, "f32"), target, opts);
  const eps = opts.labelSmoothing ?? 0;
  if (logits.rank !== 2 || logits.dtype !== "f32") {
    throw new ShapeError(`cross_entropy: logits ${logits.describe()} must be [batch, classes] f32.`);
  }
  const [B, C] = logits.shape as [number, number];
  const soft = target.dtype === "f32";
  if (
    soft
      ? target.rank !== 2 || target.shape[0] !== B || target.shape[1] !== C
      : target.rank !== 1 || target.shape[0] !== B
  ) {
    throw new ShapeError(
      `cross_entropy: target ${target.describe()} does not fit logits [${B}, ${C}]: pass labels [${B}] i32 or soft targets [${B}, ${C}] f32.`,
    );
  }
  if (!soft && target.dtype !== "i32")
    throw new DTypeError(`cross_entropy: labels ${target.describe()} must be i32.`);
  if (!(eps >= 0 && eps < 1)) throw new ShapeError(`cross_entropy: labelSmoothing ${eps} must be in [0, 1).`);
  const rowLoss = new Tensor(device, [B], "f32");
  const lse = new Tensor(device, [B], "f32");
  // An out-of-range label makes that row's loss NaN (a GPU kernel cannot throw); the trainer's NaN
  // check names it, and @vit/data validates labels on the host before they get here.
  device.run({
    name: "cross_entropy",
    kernel: crossEntropyKernel,
    variant: { soft },
    buffers: [logits.buffer, target.buffer, rowLoss.buffer, lse.buffer],
    uniforms: { fields: CE_FIELDS, values: [B, C, eps, 1 / B, 0x7fc00000] },
    workgroups: grid1D(B, 64),
  });
  const out = mean(rowLoss);
  rowLoss.dispose();
  if (needsGrad(logits)) {
    record(out, {
      name: "cross_entropy",
      inputs: [logits],
      backward: (g) => {
        const dz = new Tensor(device, logits.shape, "f32");
        device.run({
          name: "cross_entropy_backward",
          kernel: crossEntropyBackwardKernel,
          variant: { soft },
          buffers: [logits.buffer, target.buffer, lse.buffer, g.buffer, dz.buffer],
          uniforms: { fields: CE_FIELDS, values: [B, C, eps, 1 / B, 0x7fc00000] },
          workgroups: grid1D(B * C),
        });
        lse.dispose();
        return [dz];
      },
    });
  } else {
    lse.dispose();
  }
  return out;
}
