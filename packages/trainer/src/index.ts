export * from "@vit/optim";
export { loadConfig, parseConfig, applyOverrides, ConfigError } from "./config/load.js";
export { configSchema, type TrainConfig, type ModelSection, type DataSection, type OptimSection } from "./config/schema.js";
export { buildModel, buildOptimizer, buildLoader, vitConfigOf, attentionFnOf, type TrainOptimizer, type TrainModel } from "./build.js";
export { Trainer, NonFiniteLossError, rankShardPath, type FitResult, type TrainerEvents } from "./trainer.js";
export { evaluate, scoreLogits, type EvalResult, type EvalModel } from "./evaluate.js";
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
export { MetricsLogger, readMetrics, renderCurves, type MetricRecord } from "./metrics.js";
export { openRunDir, runDirOfCheckpoint, sweepStaleTempFiles, type RunDir } from "./run-dir.js";
export { loadPretrained, readPretrained, inferSourceConfig, PretrainedError, type LoadPretrainedOptions } from "./pretrained.js";
