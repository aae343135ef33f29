/**
 * Matrix multiplication with transposed operands, batching, broadcasting of a 2-D operand over a batch,
 * and a fused bias epilogue (Linear layers need one dispatch, not two).
 */
import { needsGrad, record } from "../autograd.js";
import { DTypeError, ShapeError, fmtShape } from "../errors.js";
import { requireFloat, sameDevice } from "../io.js";
import { MATMUL_FIELDS, matmulGenericWGSL } from "../kernels/matmul-generic.js";
import { Tensor } from "../tensor.js";
import { sumTo } from "./reduce.js";

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Added to every row of the result: shape [N]. */
  bias?: Tensor;
  /** Scales A·B before the bias. */
  alpha?: number;
}

interface Plan {
  M: number;
  N: number;
  K: number;
  batch: number;
  sa: number;
  sb: number;
  outShape: number[];
}

function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  const fail = (why: string) =>
    new ShapeError(
      `matmul: cannot multiply ${fmtShape(a.shape)}${transA ? "ᵀ" : ""} by ${fmtShape(b.shape)}${transB ? "ᵀ" : ""}: ${why}`,
    );
  if (a.rank < 2 || b.rank < 2) throw fail("both operands need at least 2 dimensions (use reshape for vectors).");
  const [ar, ac] = [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [br, bc] = [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) throw fail(`inner dimensions differ (${K} vs ${Kb}).`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const na = aBatch.reduce((x, y) => x * y, 1);
  const nb = bBatch.reduce((x, y) => x * y, 1);
  // A batch of A against one B: fold the batch into M when A is not transposed (one big GEMM).
  if (nb === 1 && !transA && b.rank === 2) {
    return { M: M * na, N, K, batch: 1, sa: 0, sb: 0, outShape: [...aBatch, M, N] };
  }
  if (na !== nb && na !== 1 && nb !== 1) throw fail(`batch dimensions ${fmtShape(aBatch)} and ${fmtShape(bBatch)} differ.`);
  if (na > 1 && nb > 1 && aBatch.join() !== bBatch.join()) throw fail(`batch dimensions ${fmtShape(aBatch)} and ${fmtShape(bBatch)} differ.`);
  const batch = Math.max(na, nb);
  if (batch > 65535) throw fail(`batch ${batch} exceeds 65535; reshape into fewer, larger matrices.`);
  return {
    M,
    N,
    K,
    batch,
    sa: na === 1 ? 0 : M * K,
    sb: nb === 1 ? 0 : K * N,
    outShape: [...(na >= nb ? aBatch : bBatch), M, N],
  };
}

/** The raw kernel call (no autograd). */
export function matmulKernel(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const device = sameDevice("matmul", a, b, ...(opts.bias ? [opts.bias] : []));
  requireFloat("matmul", a);
  requireFloat("matmul", b);
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`matmul: operands have different dtypes (${a.describe()} and ${b.describe()}); cast one.`);
  }
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const p = plan(a, b, transA, transB);
  if (opts.bias && (opts.bias.rank !== 1 || opts.bias.shape[0] !== p.N || opts.bias.dtype !== a.dtype)) {
    throw new ShapeError(`matmul: bias ${opts.bias.describe()} must be [${p.N}] ${a.dtype} (one value per output column).`);
  }
  const out = new Tensor(device, p.outShape, a.dtype);
  const dtype = a.dtype as "f32" | "f16";
  const variant = { transA, transB, bias: !!opts.bias, dtype };
  device.run({
    name: "matmul",
    key: `matmul|generic|${transA}|${transB}|${variant.bias}|${dtype}`,
    code: () => matmulGenericWGSL(variant),
    buffers: [a.buffer, b.buffer, ...(opts.bias ? [opts.bias.buffer] : []), out.buffer],
    uniforms: { fields: MATMUL_FIELDS, values: [p.M, p.N, p.K, p.sa, p.sb, p.M * p.N, opts.alpha ?? 1] },
    workgroups: [Math.ceil(p.N / 32), Math.ceil(p.M / 32), p.batch],
  });
  return out;
}

/**
 * C = alpha · op(A) · op(B) (+ bias), op = transpose when the flag is set. A: [..., M, K], B: [..., K, N]
 * or [K, N] shared across A's batch.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const c = matmulKernel(a, b, opts);
  const bias = opts.bias;
  if (needsGrad(a, b, bias)) {
    const transA = !!opts.transA;
    const transB = !!opts.transB;
    const alpha = opts.alpha ?? 1;
    record(c, {
      name: "matmul",
      inputs: [a, b, bias ?? null],
      backward: (g) => {
        let da: Tensor | null = null;
        let db: Tensor | null = null;
        if (a.requiresGrad) {
          da = transA
            ? matmulKernel(b, g, { transA: transB, transB: true, alpha })
            : matmulKernel(g, b, { transB: !transB, alpha });
          da = fitTo(da, a.shape);
        }
        if (b.requiresGrad) {
          if (b.rank === 2 && a.rank > 2 && !transA) {
            // B was shared across A's folded batch: one GEMM over the flattened rows.
            const a2 = a.view([a.numel / a.shape[a.rank - 1]!, a.shape[a.rank - 1]!]);
            const g2 = g.view([g.numel / g.shape[g.rank - 1]!, g.shape[g.rank - 1]!]);
            db = transB ? matmulKernel(g2, a2, { transA: true, alpha }) : matmulKernel(a2, g2, { transA: true, alpha });
            a2.dispose();
            g2.dispose();
          } else {
            db = transB
              ? matmulKernel(g, a, { transA: true, transB: transA, alpha })
              : matmulKernel(a, g, { transA: !transA, alpha });
            db = fitTo(db, b.shape);
          }
        }
        const dbias = bias?.requiresGrad ? sumTo(g, bias.shape) : null;
        return [da, db, dbias];
      },
    });
  }
  return c;
}

/** Reduces a batched gradient to an operand that was broadcast over the batch; reshapes folded ones. */
function fitTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.numel === shape.reduce((x, y) => x * y, 1)) {
    if (g.shape.join() === shape.join()) return g;
    const v = g.view(shape);
    g.dispose();
    return v;
  }
  const r = sumTo(g, shape);
  g.dispose();
  return r;
}
