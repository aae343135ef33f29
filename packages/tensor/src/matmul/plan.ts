/**
 * The shape of a product: M, N, K and the batch after broadcasting a 2-D operand over the other's batch
 * (or folding A's batch into M), with the options every matmul entry point takes.
 */
import { ShapeError, fmtShape } from "../errors.js";
import type { Tensor } from "../tensor.js";
import type { MatmulActivation } from "./kernels/epilogue.js";

export type { MatmulActivation } from "./kernels/epilogue.js";

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Added to every row of the result: shape [N]. */
  bias?: Tensor;
  /** Scales A·B before the bias. */
  alpha?: number;
  /** Applied after the bias (fused): "gelu" (erf, timm/Megatron), "gelu_tanh", "relu". */
  activation?: MatmulActivation;
  /** Added after the activation (fused residual connection): same shape as the result. */
  residual?: Tensor;
}

export interface Plan {
  M: number;
  N: number;
  K: number;
  batch: number;
  sa: number;
  sb: number;
  outShape: number[];
}

export function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  const fail = (why: string) =>
    new ShapeError(
      `matmul: cannot multiply ${fmtShape(a.shape)}${transA ? "ᵀ" : ""} by ${fmtShape(b.shape)}${transB ? "ᵀ" : ""}: ${why}`,
    );
  if (a.rank < 2 || b.rank < 2)
    throw fail("both operands need at least 2 dimensions (use reshape for vectors).");
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
  if (na !== nb && na !== 1 && nb !== 1)
    throw fail(`batch dimensions ${fmtShape(aBatch)} and ${fmtShape(bBatch)} differ.`);
  if (na > 1 && nb > 1 && aBatch.join() !== bBatch.join())
    throw fail(`batch dimensions ${fmtShape(aBatch)} and ${fmtShape(bBatch)} differ.`);
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

export interface MatmulKernelOptions extends MatmulOptions {
  /** Also return the pre-activation (alpha·A·B + bias), for the activation's backward. */
  savePre?: boolean;
  /**
   * f16 operands, f32 result (bias, residual and epilogue in f32): the mixed-precision GEMM. Only for the
   * storage kernels (see f16OperandKernel); the caller widens the operands for the others.
   */
  outF32?: boolean;
}
