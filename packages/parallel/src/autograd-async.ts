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
import {
  AutogradError,
  type GradNode,
  type Tensor,
  accumulateGradient,
  applyNodeGradients,
  beginBackward,
  keep,
  record,
  scope,
  takeGradient,
} from "@vit/tensor";

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
      throw new AutogradError(
        `${node.name}: this graph contains a collective (tensor-parallel layers); its backward is asynchronous`,
        { hint: "call `await backwardAsync(loss)` from @vit/parallel instead of loss.backward()" },
      );
    },
  };
  return record(out, full);
}

/**
 * Back-propagates from `roots` (a scalar loss when `grads` is omitted), awaiting collective nodes.
 * Leaf gradients accumulate into `.grad` as with backward(). The order, accumulation and freeing are
 * @vit/tensor's own engine steps; only running a node differs.
 */
export async function backwardAsync(
  roots: Tensor | Tensor[],
  grads: Array<Tensor | undefined> = [],
): Promise<void> {
  const rs = Array.isArray(roots) ? roots : [roots];
  // keepCreated: other ranks' scopes interleave with ours across the awaits below.
  const st = beginBackward(rs, grads, true);
  for (const t of st.order) {
    const g = takeGradient(st, t);
    if (!g) continue;
    const node = t.gradFn;
    if (!node) {
      accumulateGradient(st, t, g);
      continue;
    }
    const inGrads = isAsync(node) ? [...(await node.backwardAsync(g))] : scope(() => [...node.backward(g)]);
    for (const gi of inGrads) if (gi) keep(gi);
    applyNodeGradients(st, t, g, inGrads);
  }
}
