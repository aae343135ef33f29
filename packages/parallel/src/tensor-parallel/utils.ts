import { ParallelConfigError } from "../errors.js";

/** Small helpers of tensor parallelism (Megatron core/tensor_parallel/utils.py). */

/** n / d, insisting that it divides: a shard of a weight must be whole rows/columns/heads. */
export function divide(n: number, d: number, what: string): number {
  if (n % d) {
    throw new ParallelConfigError(`${what}: ${n} is not divisible by the tensor-parallel size ${d}`, {
      hint: "choose a model.tensor_model_parallel_size that divides the heads, hidden and MLP sizes",
    });
  }
  return n / d;
}
