import { loadDawn } from "./dawn.js";
/**
 * Where the GPU comes from. In browsers `navigator.gpu`; in Node the `webgpu` package (Dawn), loaded by
 * ./dawn.ts. The browser build (dist/browser.js, the package's `browser` export) swaps that module for
 * ./dawn.browser.ts, so a web bundle never references the native addon.
 */
import { NoAdapterError } from "./errors.js";

const isNode = typeof process !== "undefined" && !!process.versions?.node;

export async function getGPU(dawnToggles: string[] = []): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!isNode && nav?.gpu) return nav.gpu;
  if (!isNode) {
    throw new NoAdapterError(
      "WebGPU is not available in this browser (navigator.gpu is undefined). Use a browser with WebGPU " +
        "enabled, on a page served over https or from localhost (navigator.gpu exists only in secure contexts).",
    );
  }
  return loadDawn(dawnToggles);
}

/**
 * How to wait for GPU promises in Node.
 *
 * While a promise (mapAsync, onSubmittedWorkDone) is pending, dawn.node re-arms its event polling with
 * `setImmediate`, busy-spinning the JS thread. On a CPU adapter (lavapipe) that thread competes with
 * the driver's workers for the same cores; polling on a ~1 ms timer instead was measured 1.5-2.2x
 * faster there (PERF-NOTES.md). On a real GPU the spin costs only a core the GPU does not need and
 * gives the lowest latency, so "spin" stays the default for hardware adapters.
 */
export type PollMode = "spin" | "timer";

let timerWaiters = 0;
let savedSetImmediate: typeof setImmediate | undefined;

export async function awaitGPU<T>(p: Promise<T>, mode: PollMode): Promise<T> {
  if (mode === "spin" || !isNode) return p;
  if (timerWaiters++ === 0) {
    savedSetImmediate = globalThis.setImmediate;
    const timerImmediate = (fn: (...a: unknown[]) => void, ...args: unknown[]) => setTimeout(fn, 1, ...args);
    globalThis.setImmediate = timerImmediate as unknown as typeof setImmediate;
  }
  try {
    return await p;
  } finally {
    if (--timerWaiters === 0 && savedSetImmediate) globalThis.setImmediate = savedSetImmediate;
  }
}
