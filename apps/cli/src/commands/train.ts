/** `vit train --config FILE [key=value ...]`: fit, evaluate on the test split, print top-1. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { distributedEnv, initProcessGroup } from "@vit/parallel";
import { Device } from "@vit/tensor";
import { DEFAULT_CONFIG_PATH, type FitResult, Trainer, loadConfig } from "@vit/trainer";
import { Progress } from "../progress.js";

export interface TrainOptions {
  config: string;
  json?: boolean;
  resume?: string;
}

/** ./conf/fashion_mnist_tiny.yaml where there is one (the checkout), else the copy @vit/trainer ships. */
export function defaultConfigPath(): string {
  const local = resolve("conf/fashion_mnist_tiny.yaml");
  return existsSync(local) ? local : DEFAULT_CONFIG_PATH;
}

export async function trainCommand(overrides: string[], opts: TrainOptions): Promise<FitResult> {
  const cfg = loadConfig(opts.config, overrides);
  const device = await Device.create({ seed: cfg.trainer.seed });
  // Under `vit launch` (or torchrun/Slurm/mpirun variables) this process is one data-parallel rank.
  const world = distributedEnv().worldSize;
  const group = world > 1 ? await initProcessGroup() : undefined;
  const rank = group?.rank ?? 0;
  const progress = new Progress(!opts.json && rank === 0);
  const trainer = new Trainer(device, cfg, {
    ...(group ? { group } : {}),
    onStep: (s, max) => progress.step(s, max),
    onLog: (r) => progress.record(r),
    log: (m) => progress.message(m),
  });
  progress.message(
    `training ${cfg.name} on ${device.adapter.description || device.adapter.device}: ${trainer.model
      .parameters()
      .reduce((a, p) => a + p.numel, 0)
      .toLocaleString()} parameters`,
  );
  const result = await trainer.fit({ resumeFrom: opts.resume ?? null });
  progress.stop();
  await group?.destroy();
  const f = result.final!;
  if (rank !== 0) {
    trainer.dispose();
    device.destroy();
    return result;
  }
  const summary = {
    top1: f.top1,
    top5: f.top5,
    loss: f.loss,
    images_per_second: result.imagesPerSecond,
    wall_seconds: result.wallSeconds,
    steps: result.steps,
    checkpoint: result.checkpoint,
    run_dir: result.runDir,
    eval_on: result.evalOn,
  };
  if (opts.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `${result.evalOn === "train" ? "top-1 ON THE TRAINING DATA" : "test top-1"} ${(100 * f.top1).toFixed(2)}%  top-5 ${(100 * f.top5).toFixed(2)}%  loss ${f.loss.toFixed(4)}  ` +
        `(${result.steps} steps, ${result.imagesPerSecond.toFixed(0)} images/s, ${result.wallSeconds.toFixed(0)} s; checkpoint ${result.checkpoint}; run folder ${result.runDir})`,
    );
  }
  trainer.dispose();
  device.destroy();
  return result;
}
