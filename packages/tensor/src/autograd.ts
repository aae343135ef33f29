/**
 * Define-by-run reverse-mode autograd. Each op that sees an input requiring grad attaches a GradNode to
 * its output; `backward()` (backward.ts) walks the nodes in reverse topological order. Leaf gradients accumulate across
 * calls (micro-batches), as in PyTorch, until the caller zeroes them.
 */
import type { Tensor } from "./tensor.js";

export interface GradNode {
  /** Op name, for error messages. */
  name: string;
  /** The op's inputs; entries that need no gradient may be null. */
  inputs: ReadonlyArray<Tensor | null>;
  /** Gradients w.r.t. `inputs` given the gradient of the output. Runs with grad recording off. */
  backward: (grad: Tensor) => ReadonlyArray<Tensor | null | undefined>;
}

let noGradDepth = 0;

export function isGradEnabled(): boolean {
  return noGradDepth === 0;
}

/** Runs `fn` without recording gradients (evaluation, optimizer updates). */
export function noGrad<R>(fn: () => R): R {
  noGradDepth++;
  let async = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      async = true;
      return r.finally(() => noGradDepth--) as R;
    }
    return r;
  } finally {
    if (!async) noGradDepth--;
  }
}

/**
 * Runs `fn` with gradient recording on, even inside noGrad (used by checkpoint's recomputation). An async
 * `fn` keeps recording until its Promise settles (as noGrad), for the recomputation of async layers.
 */
export function enableGrad<R>(fn: () => R): R {
  const saved = noGradDepth;
  noGradDepth = 0;
  let async = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      async = true;
      return r.finally(() => {
        noGradDepth = saved;
      }) as R;
    }
    return r;
  } finally {
    if (!async) noGradDepth = saved;
  }
}

/** True when an op over `inputs` must record a node. */
export function needsGrad(...inputs: ReadonlyArray<Tensor | null | undefined>): boolean {
  return noGradDepth === 0 && inputs.some((t) => t?.requiresGrad === true);
}

/** Attaches `node` to `out` (marks it as requiring grad). Returns `out`. */
export function record(out: Tensor, node: GradNode): Tensor {
  out.requiresGrad = true;
  out.gradFn = node;
  return out;
}
