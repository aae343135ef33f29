/**
 * Resampling the grid part of a learned position embedding when the input resolution changes
 * (fine-tuning at another size), prefix (class) tokens kept as they are.
 *
 * Both modes reproduce PyTorch's `F.interpolate(..., align_corners=False)` on a [1, D, gh, gw] grid:
 * - 'bicubic' (timm's `resample_abs_pos_embed`, antialias=False): Keys cubic convolution with
 *   A = −0.75, 4×4 taps, source index clamped at the borders;
 * - 'bilinear' (NeMo's `twod_interpolate_position_embeddings_hook`): 2×2 taps, source coordinate
 *   clamped at 0, upper tap clamped at the last row/column.
 * Source coordinate: (dst + 0.5) · in/out − 0.5. Arithmetic is float64; results are rounded to f32 once.
 * (NeMo's hook then casts the grid to fp16; we do not, so a bf16/fp16 policy decides that later.)
 */
import type { HostTensorOf } from "@vit/nn";
import { WeightMappingError } from "./weights.js";

export type PosEmbedResampleMode = "bicubic" | "bilinear";

const CUBIC_A = -0.75;

/** PyTorch's cubic_convolution1/2 with A = −0.75, for the 4 taps around a fractional offset t. */
function cubicWeights(t: number): [number, number, number, number] {
  const A = CUBIC_A;
  const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| ≤ 1
  const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

interface Taps {
  index: number[];
  weight: number[];
}

/** For each output position along one axis: the input indices it reads and their weights. */
function axisTaps(inSize: number, outSize: number, mode: PosEmbedResampleMode): Taps[] {
  const scale = inSize / outSize;
  const clamp = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  const taps: Taps[] = [];
  for (let o = 0; o < outSize; o++) {
    const real = scale * (o + 0.5) - 0.5;
    if (mode === "bicubic") {
      const i0 = Math.floor(real);
      const w = cubicWeights(real - i0);
      taps.push({ index: [clamp(i0 - 1), clamp(i0), clamp(i0 + 1), clamp(i0 + 2)], weight: w });
    } else if (inSize === outSize) {
      taps.push({ index: [o], weight: [1] });
    } else {
      const src = Math.max(real, 0);
      const i0 = Math.floor(src);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = Math.min(Math.max(src - i0, 0), 1);
      taps.push({ index: [i0, i1], weight: [1 - l1, l1] });
    }
  }
  return taps;
}

/**
 * Resamples a grid stored as [gh·gw, dim] (row-major: row, column, channel — the token order of a
 * position embedding) to [nh·nw, dim].
 */
export function resampleGrid(
  grid: Float32Array,
  oldGrid: readonly [number, number],
  newGrid: readonly [number, number],
  dim: number,
  mode: PosEmbedResampleMode,
): Float32Array {
  const [gh, gw] = oldGrid;
  const [nh, nw] = newGrid;
  if (grid.length !== gh * gw * dim) {
    throw new WeightMappingError(`resampleGrid: grid has ${grid.length} values, expected ${gh}x${gw}x${dim}`, {
      hint: "pass the grid part of the position embedding and its old grid size",
    });
  }
  const ty = axisTaps(gh, nh, mode);
  const tx = axisTaps(gw, nw, mode);
  const out = new Float32Array(nh * nw * dim);
  const acc = new Float64Array(dim);
  const row = new Float64Array(dim);
  for (let oy = 0; oy < nh; oy++) {
    const y = ty[oy]!;
    for (let ox = 0; ox < nw; ox++) {
      const x = tx[ox]!;
      acc.fill(0);
      // Interpolate along x within each source row, then combine rows along y (PyTorch's order).
      for (let a = 0; a < y.index.length; a++) {
        row.fill(0);
        for (let b = 0; b < x.index.length; b++) {
          const base = (y.index[a]! * gw + x.index[b]!) * dim;
          const wx = x.weight[b]!;
          for (let d = 0; d < dim; d++) row[d]! += wx * grid[base + d]!;
        }
        const wy = y.weight[a]!;
        for (let d = 0; d < dim; d++) acc[d]! += wy * row[d]!;
      }
      out.set(acc, (oy * nw + ox) * dim);
    }
  }
  return out;
}

export interface ResamplePosEmbedOptions {
  /** Class (prefix) tokens ahead of the grid; copied unchanged. */
  numPrefixTokens: number;
  newGrid: readonly [number, number];
  /** Defaults to a square grid inferred from the token count. */
  oldGrid?: readonly [number, number];
  /** 'bicubic' (timm, default) or 'bilinear' (NeMo). */
  mode?: PosEmbedResampleMode;
}

/** Resamples a position embedding [1, T + gh·gw, D] to [1, T + nh·nw, D]. */
export function resamplePosEmbed(
  posEmbed: HostTensorOf<"F32">,
  options: ResamplePosEmbedOptions,
): HostTensorOf<"F32"> {
  const { numPrefixTokens: T, newGrid, mode = "bicubic" } = options;
  const shape = posEmbed.shape;
  if (shape.length !== 3 || shape[0] !== 1) {
    throw new WeightMappingError(`resamplePosEmbed: expected shape [1, tokens, dim], got [${shape.join(", ")}]`, {
      hint: "pass the pos_embed tensor itself",
    });
  }
  const tokens = shape[1]!;
  const dim = shape[2]!;
  const gridTokens = tokens - T;
  let oldGrid = options.oldGrid;
  if (!oldGrid) {
    const side = Math.round(Math.sqrt(gridTokens));
    if (side * side !== gridTokens) {
      throw new WeightMappingError(
        `resamplePosEmbed: ${gridTokens} grid tokens (${tokens} − ${T} prefix) is not a square`,
        { hint: "pass oldGrid (the patch grid the weights were trained on)" },
      );
    }
    oldGrid = [side, side];
  }
  if (oldGrid[0] * oldGrid[1] !== gridTokens) {
    throw new WeightMappingError(
      `resamplePosEmbed: oldGrid ${oldGrid[0]}x${oldGrid[1]} does not match ${gridTokens} grid tokens (${tokens} − ${T} prefix)`,
      { hint: "pass the patch grid the weights were trained on as oldGrid, or check numPrefixTokens" },
    );
  }
  const [nh, nw] = newGrid;
  const out = new Float32Array((T + nh * nw) * dim);
  out.set(posEmbed.data.subarray(0, T * dim), 0);
  if (oldGrid[0] === nh && oldGrid[1] === nw) {
    out.set(posEmbed.data.subarray(T * dim), T * dim); // as timm/NeMo: same size → unchanged
  } else {
    out.set(resampleGrid(posEmbed.data.subarray(T * dim), oldGrid, newGrid, dim, mode), T * dim);
  }
  return { dtype: "F32", shape: [1, T + nh * nw, dim], data: out };
}
