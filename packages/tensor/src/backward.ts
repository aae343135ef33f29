/**
 * The backward engine: walks the GradNodes that autograd.ts recorded in reverse topological order. It adds
 * and copies gradients with the element-wise kernel itself (not the differentiable ops, whose own backward
 * pulls in reductions) and makes tensors through `Tensor.newEmpty`, so that tensor.ts (Tensor.backward)
 * can import it without an import cycle through the ops.
 */
import { AutogradError } from "./errors.js";
import { encode } from "./host.js";
import { elementwise } from "./ops/elementwise-kernel.js";
import { keep } from "./scope.js";
import type { Tensor } from "./tensor.js";

/** Gradients are never differentiated again here (no create_graph), so plain kernels suffice. */
function add(a: Tensor, b: Tensor): Tensor {
  return elementwise("add", [a, b], "a + b");
}

function clone(x: Tensor): Tensor {
  return elementwise("clone", [x], "a");
}

/** A tensor of ones shaped and typed like the (scalar) root: the gradient of the root w.r.t. itself. */
function seedOnes(r: Tensor): Tensor {
  const g = r.newEmpty(r.shape, r.dtype);
  r.device.upload(g.buffer, encode(new Array<number>(r.numel).fill(1), r.dtype));
  return g;
}

/**
 * The state of one backward pass, shared by the synchronous engine below and by asynchronous engines
 * built on it (@vit/parallel awaits collective nodes): the reverse topological order, the pending
 * gradients of non-leaf tensors, and the gradients the caller passed in (never freed here).
 */
export interface BackwardState {
  /** Tensors in reverse topological order: process them first to last. */
  readonly order: Tensor[];
  readonly pending: Map<Tensor, Tensor>;
  readonly external: Set<Tensor>;
  /** Wrap every tensor this engine creates with keep() (async engines, whose awaits interleave scopes). */
  readonly keepCreated: boolean;
}

/** Dependencies first: a tensor comes after every tensor its gradient flows into. Iterative (deep graphs). */
export function topoOrder(roots: Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
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
  return order;
}

/** Orders the graph and seeds the roots' gradients (ones for a scalar root when omitted). */
export function beginBackward(roots: Tensor[], grads: Array<Tensor | undefined>, keepCreated = false): BackwardState {
  const st: BackwardState = { order: topoOrder(roots).reverse(), pending: new Map(), external: new Set(), keepCreated };
  roots.forEach((r, i) => {
    let g = grads[i];
    if (g) {
      st.external.add(g);
    } else {
      if (r.numel !== 1) {
        throw new AutogradError(
          `backward: ${r.describe()} is not a scalar; pass a gradient of the same shape (t.backward(grad)) ` +
            "or reduce it to a scalar first (e.g. mean).",
        );
      }
      g = created(st, seedOnes(r));
    }
    accumulate(st, r, g);
  });
  return st;
}

/** The gradient waiting for `t`, removed from the pending set (undefined when none flowed to it). */
export function takeGradient(st: BackwardState, t: Tensor): Tensor | undefined {
  const g = st.pending.get(t);
  if (g) st.pending.delete(t);
  return g;
}

/**
 * Routes a node's input gradients: copies aliases (a node may pass its incoming gradient straight
 * through, or hand one tensor to two inputs) so every pending gradient can be freed on its own, frees
 * the consumed gradient, accumulates into inputs, and frees the node (PyTorch's retain_graph=False).
 */
export function applyNodeGradients(st: BackwardState, t: Tensor, g: Tensor, grads: ReadonlyArray<Tensor | null | undefined>): void {
  const node = t.gradFn!;
  const inGrads = [...grads];
  const used = new Set<Tensor>();
  let passedThrough = false;
  inGrads.forEach((gi, i) => {
    if (!gi) return;
    if (used.has(gi)) inGrads[i] = created(st, clone(gi));
    else used.add(gi);
    if (gi === g) passedThrough = true;
  });
  if (passedThrough && st.external.has(g)) {
    inGrads.forEach((gi, i) => {
      if (gi === g) inGrads[i] = created(st, clone(g));
    });
  } else if (!passedThrough && !st.external.has(g)) {
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
      // bug, not user input
      throw new Error(`internal: ${node.name} backward gave grad ${gi.describe()} for input ${inp.describe()}`);
    }
    accumulate(st, inp, gi);
  });
  t.gradFn = null;
}

/** Adds `g` into `t`'s pending gradient (non-leaf) or into `t.grad` (leaf). */
export function accumulate(st: BackwardState, t: Tensor, g: Tensor): void {
  if (!t.gradFn) {
    if (t.grad) {
      const sum = add(t.grad, g);
      t.grad.dispose();
      if (!st.external.has(g)) g.dispose();
      t.grad = keep(sum);
    } else {
      t.grad = keep(st.external.has(g) ? clone(g) : g);
    }
    return;
  }
  const prev = st.pending.get(t);
  if (!prev) {
    st.pending.set(t, g);
    return;
  }
  st.pending.set(t, created(st, add(prev, g)));
  if (!st.external.has(prev)) prev.dispose();
  if (!st.external.has(g)) g.dispose();
}

function created(st: BackwardState, t: Tensor): Tensor {
  return st.keepCreated ? keep(t) : t;
}

/**
 * Back-propagates from `roots` with initial gradients `grads` (ones for a scalar root when omitted).
 * Intermediate gradients are freed as soon as they have been consumed; leaf gradients are kept.
 */
export function backwardFrom(roots: Tensor[], grads: Array<Tensor | undefined>): void {
  const st = beginBackward(roots, grads);
  for (const t of st.order) {
    const g = takeGradient(st, t);
    if (!g) continue;
    if (!t.gradFn) accumulate(st, t, g);
    else applyNodeGradients(st, t, g, t.gradFn.backward(g));
  }
}
