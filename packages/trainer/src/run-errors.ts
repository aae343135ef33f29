/** The errors that stop a run for its data or its numbers, each naming the fix. */
import type { DataLoader } from "@vit/data";
import { VitError } from "@vit/tensor";
import { ConfigError } from "./config/load.js";

/** The training loss became NaN or ±Inf; the message names the step and the last good checkpoint. */
export class NonFiniteLossError extends VitError {}

/** The error that stops a diverged run, naming the newest checkpoint whose weights are finite. */
export function divergedError(what: string, lastCheckpoint: string | null): NonFiniteLossError {
  const good = lastCheckpoint
    ? `the last good checkpoint is ${lastCheckpoint}`
    : "no good checkpoint was saved before it";
  return new NonFiniteLossError(
    `${what}. The run stopped; ${good}. Lower model.optim.lr, set trainer.gradient_clip_val, or check the data.`,
  );
}

/** A training set that yields no batch (drop_last with fewer samples than one micro-batch). */
export function tooFewSamplesError(
  train: DataLoader,
  microBatchSize: number,
  dataParallelSize: number,
): ConfigError {
  const perRank = train.sampler?.length;
  if (perRank === undefined) {
    return new ConfigError(
      `a whole epoch of the training stream ${train.dataset.name} gave no batch of model.micro_batch_size=${microBatchSize} ` +
        "(incomplete batches are dropped). Lower model.micro_batch_size, or add data.",
    );
  }
  const where = dataParallelSize > 1 ? ` (${perRank} per data-parallel rank)` : "";
  return new ConfigError(
    `the training set has ${train.dataset.length} samples${where}, fewer than model.micro_batch_size=${microBatchSize}, so no ` +
      `batch can be formed (incomplete batches are dropped). Lower model.micro_batch_size to at most ${perRank}, or add data.`,
  );
}
