/** Suite name → implementation. */
import { attentionSuite } from "./suites/attention.js";
import { browserSuite } from "./suites/browser.js";
import { commSuite } from "./suites/comm.js";
import { dataSuite } from "./suites/data.js";
import { gpuSuite } from "./suites/gpu.js";
import { kernelsSuite } from "./suites/kernels.js";
import { scalingSuite } from "./suites/scaling.js";
import { stepSuite } from "./suites/step.js";
import { trainSuite } from "./suites/train.js";
import type { Suite } from "./types.js";

/** Suites run by default (no names given); `gpu`, `train` and `browser` are asked for by name. */
export const DEFAULT_SUITES = ["kernels", "step", "attention", "data"];

export const SUITES: Record<string, Suite> = {
  kernels: kernelsSuite,
  step: stepSuite,
  attention: attentionSuite,
  data: dataSuite,
  train: trainSuite,
  gpu: gpuSuite,
  scaling: scalingSuite,
  browser: browserSuite,
  comm: commSuite,
};
