/**
 * Activation checkpointing (torch.utils.checkpoint): run `fn` without keeping its intermediates, and
 * recompute them during backward. The RNG state is replayed so dropout masks are identical, so
 * gradients match the un-checkpointed run exactly.
 *
 * One implementation, `checkpointWith`, serves both the synchronous `checkpoint` below and
 * @vit/parallel's `checkpointAsync` (layers whose forward awaits collectives): the caller supplies how to
 * record the node and how to back-propagate through the recomputation; `fn` may return a Promise.
 */
import { enableGrad, isGradEnabled, noGrad, record } from "./autograd.js";
import { backwardFrom } from "./backward.js";
import { scope } from "./scope.js";
import type { Tensor } from "./tensor.js";

type MaybePromise<T> = T | Promise<T>;

/** `f(v)`, after `v` settles when it is a Promise: lets one code path serve sync and async callers. */
function andThen<T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/** A random stream besides the device's whose position the recomputation must replay. */
export interface RngStream {
  offset: number;
}

export interface CheckpointHooks {
  /** Further streams `fn` draws from (the device's seed and offset are always replayed). */
  streams?: RngStream[];
  /** Attaches the checkpoint's grad node to `out`; its backward gives the inputs' gradients. */
  record(out: Tensor, backward: (g: Tensor) => MaybePromise<Array<Tensor | null>>): Tensor;
  /** Back-propagates `g` from the recomputed output (backwardFrom, or backwardAsync for collectives). */
  backprop(out: Tensor, g: Tensor): MaybePromise<void>;
}

/** The core of checkpoint() and checkpointAsync(): forward without a graph, recompute in backward. */
export function checkpointWith<R extends MaybePromise<Tensor>>(
  fn: (...xs: Tensor[]) => R,
  inputs: Tensor[],
  hooks: CheckpointHooks,
): R {
  if (!isGradEnabled()) return fn(...inputs);
  const rng = inputs[0]!.device.rng;
  const streams = hooks.streams ?? [];
  // The seed too: inside a model-parallel fork (@vit/parallel) the device runs on another seed.
  const at = { seed: rng.seed, offset: rng.offset, streams: streams.map((s) => s.offset) };
  const out = scope(() => noGrad(() => fn(...inputs)));
  const recompute = (g: Tensor) => {
    const resume = { seed: rng.seed, offset: rng.offset, streams: streams.map((s) => s.offset) };
    const restore = (to: typeof at) => {
      rng.seed = to.seed;
      rng.offset = to.offset;
      streams.forEach((s, i) => {
        s.offset = to.streams[i]!;
      });
    };
    restore(at);
    try {
      const grads = scope(() => {
        const detached = inputs.map((x) => {
          const d = x.view(x.shape);
          d.requiresGrad = x.requiresGrad;
          return d;
        });
        return andThen(
          enableGrad(() => fn(...detached)),
          (y) =>
            andThen(hooks.backprop(y, g), () =>
              detached.map((d) => {
                const gr = d.grad;
                d.grad = null;
                return gr;
              }),
            ),
        );
      });
      if (grads instanceof Promise) return grads.finally(() => restore(resume));
      restore(resume);
      return grads;
    } catch (e) {
      restore(resume);
      throw e;
    }
  };
  return andThen(out, (y) => hooks.record(y, recompute)) as R;
}

export function checkpoint(fn: (...xs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor {
  return checkpointWith(fn, inputs, {
    // backwardFrom is synchronous, so is the recomputation: the node's backward returns the grads.
    record: (out, backward) =>
      record(out, { name: "checkpoint", inputs, backward: (g) => backward(g) as Array<Tensor | null> }),
    backprop: (out, g) => backwardFrom([out], [g]),
  });
}
