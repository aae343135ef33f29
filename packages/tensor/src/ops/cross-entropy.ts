/**
 * Fused softmax + cross-entropy with label smoothing (timm/PyTorch semantics: the target distribution
 * is (1−ε)·onehot + ε/C), or with soft targets (mixup/cutmix). Returns the batch mean. Forward keeps the
 * per-row log-sum-exp so backward is one element-wise kernel: (softmax − q)·g/B.
 */
import { needsGrad, record } from "../autograd.js";
import { DTypeError, ShapeError } from "../errors.js";
import { sameDevice } from "../checks.js";
import { declareBindings, grid1D, main1D } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";
import { cast } from "./cast.js";
import { mean } from "./reduce.js";

const FIELDS = [["rows", "u32"], ["c", "u32"], ["eps", "f32"], ["invB", "f32"], ["nanBits", "u32"]] as const;

export interface CrossEntropyOptions {
  labelSmoothing?: number;
}

/**
 * logits [B, C] f32; target: labels [B] i32 in [0, C), or soft targets [B, C] f32 (rows summing to 1).
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const device = sameDevice("cross_entropy", logits, target);
  // The loss is f32 whatever the logits' storage (torch.autocast runs cross_entropy in f32).
  if (logits.dtype === "bf16" || logits.dtype === "f16") return crossEntropy(cast(logits, "f32"), target, opts);
  const eps = opts.labelSmoothing ?? 0;
  if (logits.rank !== 2 || logits.dtype !== "f32") {
    throw new ShapeError(`cross_entropy: logits ${logits.describe()} must be [batch, classes] f32.`);
  }
  const [B, C] = logits.shape as [number, number];
  const soft = target.dtype === "f32";
  if (soft ? target.rank !== 2 || target.shape[0] !== B || target.shape[1] !== C : target.rank !== 1 || target.shape[0] !== B) {
    throw new ShapeError(
      `cross_entropy: target ${target.describe()} does not fit logits [${B}, ${C}]: pass labels [${B}] i32 or soft targets [${B}, ${C}] f32.`,
    );
  }
  if (!soft && target.dtype !== "i32") throw new DTypeError(`cross_entropy: labels ${target.describe()} must be i32.`);
  if (!(eps >= 0 && eps < 1)) throw new ShapeError(`cross_entropy: labelSmoothing ${eps} must be in [0, 1).`);
  const rowLoss = new Tensor(device, [B], "f32");
  const lse = new Tensor(device, [B], "f32");
  const tType = soft ? "f32" : "i32";
  // An out-of-range label makes that row's loss NaN (a GPU kernel cannot throw); the trainer's NaN
  // check names it, and @vit/data validates labels on the host before they get here.
  // q_c: the smoothed target probability of class c in row r.
  const q = soft ? "(1.0 - P.eps) * t[r * P.c + j] + P.eps / f32(P.c)" : "select(0.0, 1.0 - P.eps, i32(j) == t[r]) + P.eps / f32(P.c)";
  device.run({
    name: "cross_entropy",
    key: `cross_entropy|${tType}`,
    code: () => `${declareBindings(
      [
        { name: "z", type: "f32", access: "read" },
        { name: "t", type: tType, access: "read" },
        { name: "loss", type: "f32", access: "read_write" },
        { name: "lse", type: "f32", access: "read_write" },
      ],
      FIELDS,
    )}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let r = idx; let base = r * P.c;
  ${soft ? "" : "if (t[r] < 0 || t[r] >= i32(P.c)) { loss[r] = bitcast<f32>(P.nanBits); lse[r] = 0.0; return; }"}
  var m = -3.402823e38;
  for (var j = 0u; j < P.c; j++) { m = max(m, z[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < P.c; j++) { s += exp(z[base + j] - m); }
  let l = m + log(s);
  var acc = 0.0;
  for (var j = 0u; j < P.c; j++) { acc += (${q}) * (l - z[base + j]); }
  loss[r] = acc; lse[r] = l;
}`,
    buffers: [logits.buffer, target.buffer, rowLoss.buffer, lse.buffer],
    uniforms: { fields: FIELDS, values: [B, C, eps, 1 / B, 0x7fc00000] },
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
          key: `cross_entropy_backward|${tType}`,
          code: () => `${declareBindings(
            [
              { name: "z", type: "f32", access: "read" },
              { name: "t", type: tType, access: "read" },
              { name: "lse", type: "f32", access: "read" },
              { name: "g", type: "f32", access: "read" },
              { name: "dz", type: "f32", access: "read_write" },
            ],
            FIELDS,
          )}
${main1D()}
  if (idx >= P.rows * P.c) { return; }
  let r = idx / P.c; let j = idx % P.c;
  dz[idx] = (exp(z[idx] - lse[r]) - (${q})) * g[0] * P.invB;
}`,
          buffers: [logits.buffer, target.buffer, lse.buffer, g.buffer, dz.buffer],
          uniforms: { fields: FIELDS, values: [B, C, eps, 1 / B, 0x7fc00000] },
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
