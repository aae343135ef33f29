/**
 * The model-parallel RNG stream (Megatron core/tensor_parallel/random.py, CudaRNGStatesTracker).
 * Replicated work (hidden dropout on the full hidden state, initialising replicated weights) must draw
 * the same numbers on every tensor-parallel rank, so it uses the device's default stream, seeded alike
 * on all of them. Work on a rank's own shard (attention dropout over its heads, initialising its slice of
 * a split weight) must draw different numbers per rank, or the shards would be copies of each other:
 * it runs inside `fork`, which swaps in a per-rank seed (seed + 2718 + rank, Megatron's) and its own
 * running offset, then restores the default stream.
 */
import type { Device } from "@vit/tensor";

export const MODEL_PARALLEL_SEED_OFFSET = 2718;

export class ModelParallelRng {
  /** Draws taken so far (saved and restored by activation checkpointing, like the device stream). */
  offset = 0;

  constructor(readonly seed: number) {}

  static forRank(baseSeed: number, tpRank: number): ModelParallelRng {
    return new ModelParallelRng((baseSeed + MODEL_PARALLEL_SEED_OFFSET + tpRank) >>> 0);
  }

  /** Runs `fn` (synchronous: the stream is device state) on this rank's model-parallel stream. */
  fork<R>(device: Device, fn: () => R): R {
    const seed = device.rng.seed;
    const offset = device.rng.offset;
    device.rng.seed = this.seed;
    device.rng.offset = this.offset;
    try {
      return fn();
    } finally {
      this.offset = device.rng.offset;
      device.rng.seed = seed;
      device.rng.offset = offset;
    }
  }
}
