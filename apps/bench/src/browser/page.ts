/**
 * The browser suite's page (bundled by tsup for the browser into dist/browser-page.js): times our training
 * step (the same measureSteps the `step` suite runs in Node, here on navigator.gpu) and tfjs-backend-webgpu's
 * step of the same tiny ViT in the same page. The suite calls window.runBench through playwright-core.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import "@tensorflow/tfjs-backend-webgpu";
import { Device, VitError } from "@vit/tensor";
import { TINY, tfjsVitSteps } from "../peers/tfjs-vit-step.js";
import { type StepFigures, type StepSpec, buildPlainStep, measureBuilt } from "../step-core.js";

export interface PageSpec extends StepSpec {
  /** tfjs steps per repeat and repeats (0: skip tfjs). */
  tfSteps: number;
  tfRepeats: number;
}

export interface PageResult {
  adapter: Record<string, unknown>;
  ours: StepFigures;
  tfjs: number[] | null;
  tfjsError?: string;
}

async function runBench(spec: PageSpec): Promise<PageResult> {
  const device = await Device.create({ seed: 1 });
  const adapter = { ...device.adapter, limits: undefined };
  const ours = await measureBuilt(device, spec, buildPlainStep(device, spec));
  device.destroy();
  let tfjs: number[] | null = null;
  let tfjsError: string | undefined;
  if (spec.preset === "tiny" && spec.tfSteps > 0) {
    try {
      if (!(await tf.setBackend("webgpu"))) throw new VitError("tf.setBackend('webgpu') failed");
      await tf.ready();
      tfjs = await tfjsVitSteps(tf, { ...TINY, batch: spec.batch }, spec.tfSteps, spec.tfRepeats, (p) => p);
    } catch (e) {
      tfjsError = (e as Error).message;
    }
  }
  return { adapter, ours, tfjs, ...(tfjsError ? { tfjsError } : {}) };
}

// (globalThis is the page's window; this package compiles without the DOM's types.)
(globalThis as unknown as { runBench: typeof runBench }).runBench = runBench;
