/**
 * Backward for graphs that contain collectives. @vit/tensor's backward() is synchronous, but the
 * backward of a tensor-parallel mapping (copy-to-region: all-reduce the gradient) needs the other
 * ranks' values, which arrive asynchronously. `backwardAsync` is the same engine — same reverse
 * topological order, same accumulation and freeing rules as @vit/tensor's autograd.ts — except that a
 * node made by `recordAsync` is awaited. Ordinary nodes run synchronously between those awaits, inside a
 * scope so their temporaries are freed.
 *
 * Every rank builds the same graph, and the traversal order depends only on the graph's structure, so
 * all ranks reach their collectives in the same order: the lockstep that collectives need.
 *
 * The sync backward() refuses async nodes with an error that points here.
 */
import { type GradNode, type Tensor, add, clone, keep, onesLike, record, scope } from "@vit/tensor";

export type Grads = ReadonlyArray<Tensor | null | undefined>;

export interface AsyncGradNode extends GradNode {
  backwardAsync: (grad: Tensor) => Promise<Grads>;
}

function isAsync(n: GradNode): n is AsyncGradNode {
  return typeof (n as Partial<AsyncGradNode>).backwardAsync === "function";
}

/** Attaches a node whose backward is async (a collective) to `out`. */
export function recordAsync(
  out: Tensor,
  node: { name: string; inputs: ReadonlyArray<Tensor | null>; backwardAsync: (g: Tensor) => Promise<Grads> },
): Tensor {
  const full: AsyncGradNode = {
    ...node,
    backward: () => {
      throw new Error(
        `${node.name}: this graph contains a collective (tensor-parallel layers); its backward is asynchronous. ` +
          "Call `await backwardAsync(loss)` from @vit/parallel instead of loss.backward().",
      );
    },
  };
  return record(out, full);
}

function topoOrder(roots: Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  for (const root of roots) {
    if (!root.requiresGrad) {
      throw new Error(
        `backwardAsync: tensor ${root.describe()} does not require grad (nothing that made it had requiresGrad).`,
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

/**
 * Back-propagates from `roots` (a scalar loss when `grads` is omitted), awaiting collective nodes.
 * Leaf gradients accumulate into `.grad` as with backward().
 */
export async function backwardAsync(
  roots: Tensor | Tensor[],
  grads: Array<Tensor | undefined> = [],
): Promise<void> {
  const rs = Array.isArray(roots) ? roots : [roots];
  const order = topoOrder(rs);
  const pending = new Map<Tensor, Tensor>();
  const external = new Set<Tensor>();
  rs.forEach((r, i) => {
    let g = grads[i];
    if (g) external.add(g);
    else {
      if (r.numel !== 1)
        throw new Error(`backwardAsync: ${r.describe()} is not a scalar; pass its gradient.`);
      g = keep(onesLike(r));
    }
    accumulate(pending, r, g, external);
  });
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k]!;
    const g = pending.get(t);
    if (!g) continue;
    pending.delete(t);
    const node = t.gradFn;
    if (!node) {
      accumulateLeaf(t, g, external);
      continue;
    }
    const inGrads = isAsync(node) ? [...(await node.backwardAsync(g))] : scope(() => [...node.backward(g)]);
    for (const gi of inGrads) if (gi) keep(gi);
    const used = new Set<Tensor>();
    let passedThrough = false;
    inGrads.forEach((gi, i) => {
      if (!gi) return;
      if (used.has(gi)) inGrads[i] = keep(clone(gi));
      else used.add(gi);
      if (gi === g) passedThrough = true;
    });
    if (passedThrough && external.has(g)) {
      inGrads.forEach((gi, i) => {
        if (gi === g) inGrads[i] = keep(clone(g));
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
        throw new Error(
          `internal: ${node.name} backward gave grad ${gi.describe()} for input ${inp.describe()}`,
        );
      }
      if (inp.gradFn) accumulate(pending, inp, gi, external);
      else accumulateLeaf(inp, gi, external);
    });
    t.gradFn = null;
  }
}

function accumulate(pending: Map<Tensor, Tensor>, t: Tensor, g: Tensor, external: Set<Tensor>): void {
  if (!t.gradFn) {
    accumulateLeaf(t, g, external);
    return;
  }
  const prev = pending.get(t);
  if (!prev) {
    pending.set(t, g);
    return;
  }
  pending.set(t, keep(add(prev, g)));
  if (!external.has(prev)) prev.dispose();
  if (!external.has(g)) g.dispose();
}

function accumulateLeaf(t: Tensor, g: Tensor, external: Set<Tensor>): void {
  if (t.grad) {
    const sum = add(t.grad, g);
    t.grad.dispose();
    if (!external.has(g)) g.dispose();
    t.grad = keep(sum);
  } else {
    t.grad = keep(external.has(g) ? clone(g) : g);
  }
}
