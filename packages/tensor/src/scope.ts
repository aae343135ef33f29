/**
 * Tensor lifetime. GPU memory is invisible to the JS garbage collector, so tensors are freed explicitly:
 * `scope(fn)` disposes every tensor created inside `fn` except those it returns or `keep()`s, which move
 * to the enclosing scope (as tf.tidy). Tensors created outside any scope live until `dispose()`.
 */
import type { Tensor } from "./tensor.js";

const stack: Set<Tensor>[] = [];

/** Called by the Tensor constructor. */
export function track(t: Tensor): void {
  const top = stack[stack.length - 1];
  if (top) {
    top.add(t);
    t.scopeSet = top;
  }
}

/** Exempts `t` from disposal by the scope it was created in; it then lives until `dispose()`. */
export function keep<T extends Tensor>(t: T): T {
  t.scopeSet?.delete(t);
  t.scopeSet = undefined;
  return t;
}

function collect(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (!value || typeof value !== "object" || depth > 3) return;
  if ((value as { isTensor?: boolean }).isTensor === true) {
    out.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, depth + 1);
  else if (value.constructor === Object) for (const v of Object.values(value)) collect(v, out, depth + 1);
}

function close(set: Set<Tensor>, result: unknown): void {
  stack.pop();
  const kept = new Set<Tensor>();
  collect(result, kept);
  const parent = stack[stack.length - 1];
  for (const t of set) {
    if (kept.has(t)) {
      t.scopeSet = parent;
      parent?.add(t);
    } else {
      t.dispose();
    }
  }
}

/**
 * Runs `fn` and disposes every tensor it created except those in its result (a tensor, or arrays /
 * plain objects of them). With an async `fn`, do not interleave other scopes while it awaits.
 */
export function scope<R>(fn: () => R): R {
  const set = new Set<Tensor>();
  stack.push(set);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    close(set, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (r) => {
        close(set, r);
        return r;
      },
      (e) => {
        close(set, undefined);
        throw e;
      },
    ) as R;
  }
  close(set, result);
  return result;
}
