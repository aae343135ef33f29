/**
 * `vit train --config FILE [key=value ...]`: fit, evaluate on the test split, print top-1.
 * `--print-config` prints the resolved config and exits (no GPU); `--dry-run` builds everything, runs one
 * step and one test batch in a temporary run folder that is deleted afterwards.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { distributedEnv, initProcessGroup } from "@vit/parallel";
import { type AutotuneResult, Device, ensureMatmulTuning } from "@vit/tensor";
import { DEFAULT_CONFIG_PATH, type FitResult, Trainer, configYaml, loadConfig } from "@vit/trainer";
import { Progress } from "../progress.js";
import { describeRun } from "../summary.js";

export interface TrainOptions {
  config: string;
  json?: boolean;
  resume?: string;
  printConfig?: boolean;
  dryRun?: boolean;
}

/** ./conf/fashion_mnist_tiny.yaml where there is one (the checkout), else the copy @vit/trainer ships. */
export function defaultConfigPath(): string {
  const local = resolve("conf/fashion_mnist_tiny.yaml");
  return existsSync(local) ? local : DEFAULT_CONFIG_PATH;
}

export async function trainCommand(overrides: string[], opts: TrainOptions): Promise<FitResult | null> {
  const cfg = loadConfig(opts.config, overrides);
  if (opts.printConfig) {
    process.stdout.write(configYaml(cfg));
    return null;
  }
  // A dry run's checkpoints, metrics and hparams.yaml go to a temporary folder, removed at the end.
  const dryDir = opts.dryRun ? mkdtempSync(join(tmpdir(), "vit-dry-run-")) : null;
  if (dryDir) cfg.exp_manager = { ...cfg.exp_manager, exp_dir: dryDir, resume_if_exists: false };
  try {
    return await train(cfg, opts);
  } finally {
    if (dryDir) rmSync(dryDir, { recursive: true, force: true });
  }
}

async function train(cfg: ReturnType<typeof loadConfig>, opts: TrainOptions): Promise<FitResult> {
  const device = await Device.create({ seed: cfg.trainer.seed });
  // Under `vit launch` (or torchrun/Slurm/mpirun variables) this process is one data-parallel rank.
  const world = distributedEnv().worldSize;
  const group = world > 1 ? await initProcessGroup() : undefined;
  const rank = group?.rank ?? 0;
  const progress = new Progress(!opts.json && rank === 0);
  // The matmul tiles this host's adapter likes, timed once per host and cached (a few seconds). Only a
  // single process tunes: ranks of one job must all run the same kernels, so they read what is cached.
  if (world === 1) {
    const tuned = await ensureMatmulTuning(device);
    if (tuned)
      progress.message(
        `tuned matmul kernels for this host once (${tunedSummary(tuned)}); cached in ${tuned.path ?? "memory"}`,
      );
  }
  let lastTrain: Record<string, number | string> | null = null;
  const trainer = new Trainer(device, cfg, {
    ...(group ? { group } : {}),
    onStep: (s, max) => progress.step(s, max),
    onEvalBatch: (done, total) => progress.evalStep(done, total),
    onLog: (r) => {
      if (r.kind === "train") lastTrain = r;
      progress.record(r);
    },
    log: (m) => progress.message(m),
  });
  if (rank === 0) {
    const lines = await describeRun(trainer, device);
    progress.message(
      (opts.dryRun ? ["dry run: one step and one test batch, nothing kept", ...lines] : lines).join("\n"),
    );
  }
  const result = await trainer.fit({ resumeFrom: opts.resume ?? null, dryRun: !!opts.dryRun });
  progress.stop();
  await group?.destroy();
  const f = result.final;
  if (rank !== 0 || !f) {
    trainer.dispose();
    device.destroy();
    return result;
  }
  if (opts.dryRun) {
    const loss = (lastTrain as Record<string, number | string> | null)?.loss as number;
    const out = { dry_run: true, steps: result.steps, loss, eval_images: f.images, eval_loss: f.loss };
    if (opts.json) console.log(JSON.stringify(out));
    else
      console.log(
        `dry run OK: 1 step (loss ${loss.toFixed(4)}), ${f.images} test images scored; no files kept`,
      );
  } else {
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
  }
  trainer.dispose();
  device.destroy();
  return result;
}

function tunedSummary(t: AutotuneResult): string {
  return Object.entries(t.results)
    .map(([cls, c]) => `${cls}: ${c.kind}${c.kind === "texture" ? ` ${c.rows} rows` : ""}`)
    .join(", ");
}
