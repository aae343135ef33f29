/**
 * Gradient clipping across a tensor-parallel group (Megatron's clip_grad_norm_fp32 over the model-
 * parallel group): the global norm counts each split parameter's shards on every rank and each
 * replicated parameter once (its gradient is identical on every rank). Call it after backwardAsync and
 * before `optimizer.step({ lr, maxGradNorm: 0 })`: the wrapped optimizer's own clipping would only see
 * this rank's shards.
 */
import type { Module } from "@vit/nn";
import { type Tensor, add, mulScalar, noGrad, scope, square, sum } from "@vit/tensor";
import type { ProcessGroup } from "../process-group.js";
import { tensorParallelLayout } from "./state-dict.js";

async function sumOfSquares(ts: Tensor[]): Promise<number> {
  if (!ts.length) return 0;
  const s = noGrad(() => scope(() => ts.map((g) => sum(square(g))).reduce((a, b) => add(a, b))));
  try {
    return (await s.data())[0]!;
  } finally {
    s.dispose();
  }
}

/**
 * Scales every gradient of `model` by min(1, maxNorm / ‖g‖) (maxNorm 0: only measures) and returns the
 * global norm ‖g‖ before clipping. Which parameters are split is what the model's layers declare
 * (tensorParallelLayout).
 */
export async function clipGradNormTensorParallel(
  group: ProcessGroup,
  model: Module,
  maxNorm: number,
): Promise<number> {
  const layout = tensorParallelLayout(model);
  const named = model.namedParameters().filter(([, p]) => p.grad);
  const split = named.filter(([n]) => layout.has(n)).map(([, p]) => p.grad!);
  const replicated = named.filter(([n]) => !layout.has(n)).map(([, p]) => p.grad!);
  const local = await sumOfSquares(split);
  const [splitTotal] = await group.allReduceValues([local], "sum");
  const norm = Math.sqrt(splitTotal! + (await sumOfSquares(replicated)));
  const coef = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  if (coef < 1) {
    noGrad(() =>
      scope(() => {
        for (const [, p] of named)
          p.device.copy(mulScalar(p.grad!, coef).buffer, 0, p.grad!.buffer, 0, p.numel * 4);
      }),
    );
  }
  return norm;
}
