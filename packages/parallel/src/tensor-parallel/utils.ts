/** Small helpers of tensor parallelism (Megatron core/tensor_parallel/utils.py). */

/** n / d, insisting that it divides: a shard of a weight must be whole rows/columns/heads. */
export function divide(n: number, d: number, what: string): number {
  if (n % d) throw new Error(`${what}: ${n} is not divisible by the tensor-parallel size ${d}.`);
  return n / d;
}
