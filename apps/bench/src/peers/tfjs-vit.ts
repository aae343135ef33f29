/**
 * tfjs peer for the training step in Node: tfjs-core on the webgpu backend in this process, on the same
 * Dawn adapter as ours; the step itself is ./tfjs-vit-step.ts (shared with the browser suite's page).
 */
import type * as tfc from "@tensorflow/tfjs-core";
import { waitFor } from "./polling.js";
import { type TfVitConfig, tfjsVitSteps } from "./tfjs-vit-step.js";
import { loadTfjs } from "./tfjs.js";

export { TINY, type TfVitConfig } from "./tfjs-vit-step.js";

/** images/s of tfjs training steps (one value per repeat), or null when tfjs is unavailable. */
export async function tfjsVitStep(
  c: TfVitConfig,
  steps: number,
  repeats: number,
  log: (m: string) => void,
): Promise<number[] | null> {
  const loaded = await loadTfjs(log);
  if (!loaded) return null;
  const tf = loaded as unknown as typeof tfc;
  // tfjs-core's Node bundle has no gradient functions; the @tensorflow/tfjs union package registers them
  // (on the same tfjs-core instance: one version in the lockfile).
  await import("@tensorflow/tfjs");
  // Readbacks wait with the same timer polling as ours on a CPU adapter.
  return tfjsVitSteps(tf, c, steps, repeats, (p) => waitFor(p, "timer"));
}
