export * from "@vit/optim";
export { loadConfig, parseConfig, applyOverrides, ConfigError } from "./config/load.js";
export { configSchema, type TrainConfig, type ModelSection, type DataSection, type OptimSection, type Precision } from "./config/schema.js";
export { resolveInterpolations, InterpolationError } from "./config/interpolate.js";
export { configNotes } from "./config/notes.js";
export { buildModel, buildOptimizer, buildLoader, vitConfigOf, attentionFnOf, type TrainOptimizer, type TrainModel } from "./build.js";
export { Trainer, NonFiniteLossError, rankShardPath, type FitResult, type TrainerEvents } from "./trainer.js";
export { evaluate, scoreLogits, type EvalResult, type EvalModel } from "./evaluate.js";
export {
  saveCheckpoint,
  loadCheckpoint,
  readCheckpointMeta,
  latestCheckpoint,
  listStepCheckpoints,
  CheckpointError,
  type CheckpointMeta,
} from "./checkpoint/checkpoint.js";
export { MetricsLogger, renderCurves } from "./metrics.js";
export { loadPretrained, readPretrained, inferSourceConfig, PretrainedError, type LoadPretrainedOptions } from "./pretrained.js";
