/**
 * A kernel is a WGSL generator with a name: `wgsl(variant)` returns the shader for one variant (a plain
 * data object: dtypes, flags, tile sizes, an expression), and nothing else may shape it — sizes that vary
 * per call are uniforms. The Device caches one pipeline per `pipelineKey(kernel, variant)`, a canonical
 * serialisation of the kernel's id and the whole variant object. So a field that changes the WGSL is
 * necessarily part of the key: a cached pipeline cannot go stale the way a hand-written key string could
 * when a generator grew a new option (the old keys carried that risk as a comment). Pure: no Device here.
 */

export interface Kernel<V> {
  /** Unique among all kernels (defineKernel refuses a second one). */
  readonly id: string;
  /** The shader for one variant; must depend on nothing but `variant` (and module constants). */
  wgsl(variant: V): string;
}

const defined = new Set<string>();

/**
 * Declares a kernel. Call it once, at module scope: a kernel made per call could close over values its
 * variant does not hold, which is exactly what the key derivation rules out.
 */
export function defineKernel<V>(id: string, wgsl: (variant: V) => string): Kernel<V> {
  if (defined.has(id)) {
    // bug, not user input
    throw new Error(`internal: two kernels are named "${id}" (define each once, at module scope)`);
  }
  defined.add(id);
  return Object.freeze({ id, wgsl });
}

/**
 * The pipeline cache key of (kernel, variant): the kernel's id and a canonical serialisation of the
 * variant (object keys sorted, so field order does not matter). Runs once per dispatch.
 */
export function pipelineKey<V>(kernel: Kernel<V>, variant: V): string {
  return `${kernel.id}${canonical(variant)}`;
}

/**
 * Injective and cheap: strings are length-prefixed (no escaping), object keys sorted (an insertion-sorted
 * copy: variants have a handful of fields) and length-prefixed too, so no two distinct variants share a
 * serialisation.
 */
function canonical(v: unknown): string {
  switch (typeof v) {
    case "string":
      return `${v.length}"${v}`;
    case "number":
      return Object.is(v, -0) ? "-0" : `${v}`;
    case "boolean":
      return v ? "T" : "F";
    case "undefined":
      return "U";
    case "object": {
      if (v === null) return "N";
      if (Array.isArray(v)) {
        let s = "[";
        for (let i = 0; i < v.length; i++) s += `${canonical(v[i])},`;
        return `${s}]`;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) break;
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      for (let i = 1; i < keys.length; i++) {
        const k = keys[i]!;
        let j = i - 1;
        while (j >= 0 && keys[j]! > k) {
          keys[j + 1] = keys[j]!;
          j--;
        }
        keys[j + 1] = k;
      }
      let s = "{";
      for (const k of keys) s += `${k.length}"${k}:${canonical(o[k])},`;
      return `${s}}`;
    }
  }
  // bug, not user input: a function or class instance could change the WGSL without changing its key.
  throw new Error(`internal: a kernel variant holds a ${typeof v} (${String(v)}); variants are plain data`);
}
