/**
 * Waiting on a GPU promise the way @vit/tensor does on CPU adapters: while a Dawn promise is pending,
 * dawn.node re-arms its event polling with setImmediate, busy-spinning the JS thread that lavapipe's
 * workers need; swapping setImmediate for a 1 ms timer during the wait frees that core (PERF-NOTES.md).
 * Used for the tfjs peer so that both sides wait identically.
 */
export type PollMode = "spin" | "timer";

export async function waitFor<T>(p: Promise<T>, mode: PollMode): Promise<T> {
  if (mode === "spin") return p;
  const saved = globalThis.setImmediate;
  globalThis.setImmediate = ((fn: (...a: unknown[]) => void, ...args: unknown[]) =>
    setTimeout(fn, 1, ...args)) as unknown as typeof setImmediate;
  try {
    return await p;
  } finally {
    globalThis.setImmediate = saved;
  }
}
