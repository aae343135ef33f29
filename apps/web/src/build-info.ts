/** What vite.config.ts resolved at build time (the `__VIT_WEB__` define). */
import type { ViTConfig } from "@vit/model";
import type { TrainConfig } from "@vit/trainer";

export interface BuildInfo {
  /** conf/fashion_mnist_tiny.yaml as @vit/trainer resolves it. */
  config: TrainConfig;
  /** The ViT config it implies (@vit/trainer's vitConfigOf). */
  vit: ViTConfig;
  classes: string[];
  mean: number[];
  std: number[];
  checkpointFormat: string;
}

declare const __VIT_WEB__: BuildInfo;

export const BUILD: BuildInfo = __VIT_WEB__;
