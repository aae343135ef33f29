export * from "@vit/optim";
export { loadConfig, parseConfig, applyOverrides, ConfigError } from "./config/load.js";
export { DEFAULT_CONFIG_PATH } from "./default-config.js";
export { configSchema, type TrainConfig, type ModelSection, type DataSection, type OptimSection, type Precision } from "./config/schema.js";
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
export { Trainer, NonFiniteLossError, rankShardPath, type FitResult, type TrainerEvents } from "./trainer.js";
export { batchToTensor, type BatchImages } from "./batch.js";
export { trainStep, type TrainStepSetup, type StepInput, type StepBatch, type TrainStepResult } from "./train-step.js";
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
