export { Optimizer, type StepOptions } from "./optimizer.js";
export { OptimizerError } from "./errors.js";
export { AdamW, type AdamWOptions } from "./adamw.js";
export { SGD, type SGDOptions } from "./sgd.js";
export { GradNorm } from "./grad-norm.js";
export { paramGroupsWeightDecay, isNoDecay, isNoDecayMegatron, type ParamGroup } from "./param-groups.js";
export { lrAt, type ScheduleConfig } from "./schedule.js";
export {
  LossScaler,
  type LossScalerOptions,
  type LossScalerState,
  nextScalerState,
} from "./loss-scaler.js";
