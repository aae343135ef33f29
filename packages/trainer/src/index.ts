export * from "@vit/optim";
export { loadConfig, parseConfig, applyOverrides, ConfigError } from "./config/load.js";
export { DEFAULT_CONFIG_PATH } from "./default-config.js";
export {
  configSchema,
  type TrainConfig,
  type ModelSection,
  type DataSection,
  type OptimSection,
  type Precision,
} from "./config/schema.js";
export { resolveInterpolations, InterpolationError } from "./config/interpolate.js";
export { configNotes } from "./config/notes.js";
export {
  buildModel,
  buildOptimizer,
  buildLossScaler,
  halfDtypeOf,
  buildLoader,
  evalTransforms,
  evalSplitOf,
  vitConfigOf,
  attentionFnOf,
  isBf16,
  type TrainOptimizer,
  type TrainModel,
} from "./build.js";
export { resolvedConfig, configYaml } from "./config/resolve.js";
export { Trainer } from "./trainer.js";
export type { TrainerEvents, FitOptions } from "./trainer-events.js";
export type { FitResult } from "./fit-result.js";
export { NonFiniteLossError } from "./run-errors.js";
export { rankShardPath } from "./checkpoint/train-state.js";
export type { Strategy, StrategyName } from "./strategies/strategy.js";
export { createStrategy } from "./strategies/create.js";
export { SingleDeviceStrategy } from "./strategies/single-device.js";
export { DataParallelStrategy } from "./strategies/data-parallel.js";
export { TensorParallelStrategy } from "./strategies/tensor-parallel.js";
export { batchToTensor, type BatchImages } from "./batch.js";
export {
  trainStep,
  trainStepSetup,
  type TrainStepSetup,
  type StepInput,
  type StepBatch,
  type TrainStepResult,
} from "./train-step.js";
export { evaluate, scoreLogits, NonFiniteLogitsError, type EvalResult, type EvalModel } from "./evaluate.js";
export {
  saveCheckpoint,
  CHECKPOINT_FORMAT,
  loadCheckpoint,
  readCheckpointMeta,
  latestCheckpoint,
  listStepCheckpoints,
  stepOfCheckpoint,
  CheckpointError,
  type CheckpointMeta,
} from "./checkpoint/checkpoint.js";
export { MetricsLogger, readMetrics, type MetricRecord } from "./metrics.js";
export { renderCurves, niceAxis, tickLabel } from "./curves.js";
export { openRunDir, runDirOfCheckpoint, sweepStaleTempFiles, type RunDir } from "./run-dir.js";
export {
  loadPretrained,
  readPretrained,
  readHfConfigBeside,
  inferSourceConfig,
  PretrainedError,
  type LoadPretrainedOptions,
} from "./pretrained.js";
export { stepsWithinBudget, timePlanCachePath, type TimePlanMode, type PlanInputs } from "./time-plan.js";
