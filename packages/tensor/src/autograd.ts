/**
 * Define-by-run reverse-mode autograd. Each op that sees an input requiring grad attaches a GradNode to
 * its output; `backward()` walks the nodes in reverse topological order. Leaf gradients accumulate across
 * calls (micro-batches), as in PyTorch, until the caller zeroes them.
 */
import { AutogradError } from "./errors.js";
import { keep } from "./scope.js";
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

/** Runs `fn` with gradient recording on, even inside noGrad (used by checkpoint's recomputation). */
export function enableGrad<R>(fn: () => R): R {
  const saved = noGradDepth;
  noGradDepth = 0;
  try {
    return fn();
  } finally {
    noGradDepth = saved;
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

export interface BackwardHooks {
  add: (a: Tensor, b: Tensor) => Tensor;
  onesLike: (t: Tensor) => Tensor;
  clone: (t: Tensor) => Tensor;
}

let hooks: BackwardHooks | undefined;
/** ops register the two primitives backward needs (avoids an import cycle tensor ↔ ops). */
export function setBackwardHooks(h: BackwardHooks): void {
  hooks = h;
}

/**
 * Back-propagates from `roots` with initial gradients `grads` (ones for a scalar root when omitted).
 * Intermediate gradients are freed as soon as they have been consumed; leaf gradients are kept.
 */
export function backwardFrom(roots: Tensor[], grads: Array<Tensor | undefined>): void {
  if (!hooks) throw new Error("internal: autograd hooks not registered");
  const h = hooks;
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: a deep ViT graph would overflow the stack with recursion.
  for (const root of roots) {
    if (!root.requiresGrad) {
      throw new AutogradError(
        `backward: tensor ${root.describe()} does not require grad (no input of the ops that made it had ` +
          "requiresGrad = true, or it was computed under noGrad). Mark parameters with requiresGrad.",
      );
    }
    const stack: Array<[Tensor, number]> = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [t, i] = top;
      if (i === 0) {
        if (seen.has(t)) {
          stack.pop();
          continue;
        }
        seen.add(t);
      }
      const inputs = t.gradFn?.inputs ?? [];
      if (i < inputs.length) {
        top[1]++;
        const child = inputs[i];
        if (child?.requiresGrad && child.gradFn && !seen.has(child)) stack.push([child, 0]);
      } else {
        stack.pop();
        order.push(t);
      }
    }
  }
  const pending = new Map<Tensor, Tensor>();
  const external = new Set<Tensor>();
  roots.forEach((r, i) => {
    let g = grads[i];
    if (g) {
      external.add(g);
    } else {
      if (r.numel !== 1) {
        throw new AutogradError(
          `backward: ${r.describe()} is not a scalar; pass a gradient of the same shape (t.backward(grad)) ` +
            "or reduce it to a scalar first (e.g. mean).",
        );
      }
      g = h.onesLike(r);
    }
    accumulate(pending, r, g, h, external);
  });
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k]!;
    const g = pending.get(t);
    if (!g) continue;
    pending.delete(t);
    const node = t.gradFn;
    if (!node) {
      accumulateLeaf(t, g, h, external);
      continue;
    }
    const inGrads = [...node.backward(g)];
    // A node may pass its incoming gradient straight through, or hand one tensor to two inputs: copy
    // repeats so that every pending gradient is a distinct tensor that can be freed on its own.
    const used = new Set<Tensor>();
    let passedThrough = false;
    inGrads.forEach((gi, i) => {
      if (!gi) return;
      if (used.has(gi)) inGrads[i] = h.clone(gi);
      else used.add(gi);
      if (gi === g) passedThrough = true;
    });
    if (passedThrough && external.has(g)) {
      inGrads.forEach((gi, i) => {
        if (gi === g) inGrads[i] = h.clone(g);
      });
    } else if (!passedThrough && !external.has(g)) {
      g.dispose();
    }
    node.inputs.forEach((inp, i) => {
      const gi = inGrads[i];
      if (!inp || !gi) return;
      if (!inp.requiresGrad) {
        gi.dispose();
        return;
      }
      if (gi.shape.length !== inp.shape.length || gi.shape.some((d, j) => d !== inp.shape[j])) {
        throw new Error(`internal: ${node.name} backward gave grad ${gi.describe()} for input ${inp.describe()}`);
      }
      if (inp.gradFn) accumulate(pending, inp, gi, h, external);
      else accumulateLeaf(inp, gi, h, external);
    });
    // The graph is consumed: free the node so its saved tensors can go (PyTorch's retain_graph=False).
    t.gradFn = null;
  }
}

function accumulate(pending: Map<Tensor, Tensor>, t: Tensor, g: Tensor, h: BackwardHooks, external: Set<Tensor>): void {
  if (!t.gradFn) {
    accumulateLeaf(t, g, h, external);
    return;
  }
  const prev = pending.get(t);
  if (!prev) {
    pending.set(t, g);
    return;
  }
  pending.set(t, h.add(prev, g));
  if (!external.has(prev)) prev.dispose();
  if (!external.has(g)) g.dispose();
}

function accumulateLeaf(t: Tensor, g: Tensor, h: BackwardHooks, external: Set<Tensor>): void {
  if (t.grad) {
    const sum = h.add(t.grad, g);
    t.grad.dispose();
    if (!external.has(g)) g.dispose();
    t.grad = keep(sum);
  } else {
    t.grad = keep(external.has(g) ? h.clone(g) : g);
  }
}
