/** What Trainer.fit returns, and writes to the run folder as result.json. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BestScore } from "./checkpoint/run-checkpoints.js";
import type { EvalResult } from "./evaluate.js";

export interface FitResult {
  steps: number;
  epochs: number;
  wallSeconds: number;
  trainSeconds: number;
  imagesPerSecond: number;
  final: EvalResult | null;
  best: BestScore | null;
  checkpoint: string | null;
  runDir: string;
  /** The data `final` and the validations were measured on: "train" when there is no held-out split. */
  evalOn: "test" | "train";
}

/**
 * The result of a run that started at `t0` (performance.now()) and trained `trainImages` images in
 * `trainSeconds`; written to `<runDir>/result.json` unless `dryRun` (which reports no best or checkpoint).
 */
export function fitResult(
  run: Omit<FitResult, "wallSeconds" | "trainSeconds" | "imagesPerSecond">,
  timing: { t0: number; trainSeconds: number; trainImages: number },
  dryRun: boolean,
): FitResult {
  const { trainSeconds, trainImages } = timing;
  const result: FitResult = {
    steps: run.steps,
    epochs: run.epochs,
    wallSeconds: (performance.now() - timing.t0) / 1000,
    trainSeconds,
    imagesPerSecond: trainSeconds > 0 ? trainImages / trainSeconds : 0,
    final: run.final,
    best: dryRun ? null : run.best,
    checkpoint: dryRun ? null : run.checkpoint,
    runDir: run.runDir,
    evalOn: run.evalOn,
  };
  if (!dryRun) writeFileSync(join(run.runDir, "result.json"), JSON.stringify(result, null, 2));
  return result;
}
