/**
 * Numerically stable softmax over the last axis, and its backward: dx = y ⊙ (g − Σ g⊙y). Arithmetic is
 * f32 whatever the storage (NeMo's softmax_in_fp32); a half input gives a half output, which is what
 * backward keeps (attention probabilities under autocast), and the gradient comes out in f32.
 */
import { needsGrad, noGrad, record } from "../autograd.js";
import { requireFloat, sameDevice } from "../checks.js";
import { declareBindings, grid1D, main1D, wgslType } from "../kernels/wgsl.js";
import { Tensor } from "../tensor.js";
import { ShapeError } from "../errors.js";
import { cast } from "./cast.js";

const f32Of = (t: Tensor) => (t.dtype === "f32" ? t : noGrad(() => cast(t, "f32")));

const FIELDS = [["rows", "u32"], ["d", "u32"]] as const;

export function softmax(x: Tensor): Tensor {
  sameDevice("softmax", x);
  requireFloat("softmax", x, ["f32", "f16", "bf16"]);
  if (x.rank < 1) throw new ShapeError("softmax: needs at least one dimension.");
  const d = x.shape[x.rank - 1]!;
  const rows = x.numel / Math.max(1, d);
  const y = x.dtype === "bf16" ? softmaxBf16(x) : forwardKernel(x);
  if (needsGrad(x)) {
    record(y, {
      name: "softmax",
      inputs: [x],
      backward: (g) => {
        // Rows of packed bf16 need not start on a word: the backward reads y and g in f32 (exact widening).
        const yf = y.dtype === "bf16" ? f32Of(y) : y;
        const gf = g.dtype === y.dtype || g.dtype === "f32" ? g : f32Of(g);
        const dx = backwardKernel(yf, gf, rows, d);
        if (yf !== y) yf.dispose();
        if (gf !== g) gf.dispose();
        return [dx];
      },
    });
  }
  return y;
}

/** bf16 rows may straddle u32 words (odd widths), so one row cannot own its words: compute in f32, round. */
function softmaxBf16(x: Tensor): Tensor {
  const x32 = f32Of(x);
  const y32 = forwardKernel(x32);
  const y = noGrad(() => cast(y32, "bf16"));
  x32.dispose();
  y32.dispose();
  return y;
}

function forwardKernel(x: Tensor): Tensor {
  const device = x.device;
  const d = x.shape[x.rank - 1]!;
  const rows = x.numel / Math.max(1, d);
  const y = new Tensor(device, x.shape, x.dtype);
  const ty = wgslType(x.dtype);
  const f16 = x.dtype === "f16" ? "enable f16;" : "";
  device.run({
    name: "softmax",
    key: `softmax|${x.dtype}`,
    code: () => `${f16}
${declareBindings([{ name: "x", type: ty, access: "read" }, { name: "y", type: ty, access: "read_write" }], FIELDS)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.d;
  var m = -3.402823e38;
  for (var j = 0u; j < P.d; j++) { m = max(m, f32(x[base + j])); }
  var s = 0.0;
  for (var j = 0u; j < P.d; j++) { s += exp(f32(x[base + j]) - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < P.d; j++) { y[base + j] = ${ty}(exp(f32(x[base + j]) - m) * inv); }
}`,
    buffers: [x.buffer, y.buffer],
    uniforms: { fields: FIELDS, values: [rows, d] },
    workgroups: grid1D(rows, 64),
  });
  return y;
}

/** dx in f32 from y (f32 or f16) and g (f32 or y's type). */
function backwardKernel(y: Tensor, g: Tensor, rows: number, d: number): Tensor {
  const device = y.device;
  const dx = new Tensor(device, y.shape, "f32");
  const ty = wgslType(y.dtype);
  const tg = wgslType(g.dtype);
  const f16 = y.dtype === "f16" || g.dtype === "f16" ? "enable f16;" : "";
  device.run({
    name: "softmax_backward",
    key: `softmax_backward|${y.dtype}|${g.dtype}`,
    code: () => `${f16}
${declareBindings([{ name: "y", type: ty, access: "read" }, { name: "g", type: tg, access: "read" }, { name: "dx", type: "f32", access: "read_write" }], FIELDS)}
${main1D(64)}
  if (idx >= P.rows) { return; }
  let base = idx * P.d;
  var dot = 0.0;
  for (var j = 0u; j < P.d; j++) { dot += f32(g[base + j]) * f32(y[base + j]); }
  for (var j = 0u; j < P.d; j++) { dx[base + j] = f32(y[base + j]) * (f32(g[base + j]) - dot); }
}`,
    buffers: [y.buffer, g.buffer, dx.buffer],
    uniforms: { fields: FIELDS, values: [rows, d] },
    workgroups: grid1D(rows, 64),
  });
  return dx;
}
