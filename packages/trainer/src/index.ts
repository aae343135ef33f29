export * from "@vit/optim";
export { loadConfig, parseConfig, applyOverrides, ConfigError } from "./config/load.js";
export { resolvedConfig, configYaml } from "./config/resolve.js";
export { configSchema, type TrainConfig, type ModelSection, type DataSection, type OptimSection } from "./config/schema.js";
export { buildModel, buildOptimizer, buildLoader, evalTransforms, isBf16, vitConfigOf, attentionFnOf, type TrainOptimizer, type TrainModel } from "./build.js";
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
export { MetricsLogger } from "./metrics.js";
export { renderCurves, niceAxis, tickLabel } from "./curves.js";
export { loadPretrained, readPretrained, readHfConfigBeside, inferSourceConfig, PretrainedError, type LoadPretrainedOptions } from "./pretrained.js";
