/**
 * @vit/parallel for browsers (the package's `browser` export): everything of src/index.ts but the
 * multi-process backends (TCP sockets, MPI's native addon, the launcher's environment), which are
 * Node-only. In a page the ranks are Devices of one process (InProcessGroup); @vit/model's
 * tensor-parallel ViT imports this core, so web bundles of @vit/model resolve here.
 */
export type { ProcessGroup, ReduceOp } from "./process-group.js";
export { HostStagedGroup, tensorAndDataParallelGroups } from "./process-group.js";
export {
  CollectiveError,
  CollectiveMismatchError,
  CollectiveTimeoutError,
  ParallelConfigError,
  PayloadSizeError,
} from "./errors.js";
export { combine, type CollectiveDesc, type CollectiveKind } from "./host-collectives.js";
export {
  InProcessGroup,
  createInProcessGroups,
  runRanks,
  type InProcessOptions,
} from "./backends/in-process.js";
export { backwardAsync, recordAsync, type AsyncGradNode } from "./autograd-async.js";
export {
  DEFAULT_BUCKET_BYTES,
  buildBuckets,
  type Bucket,
  type BucketEntry,
  type BucketOptions,
} from "./distributed/buckets.js";
export {
  DataParallel,
  broadcastParameters,
  type DataParallelOptions,
  type ParameterSource,
} from "./distributed/data-parallel.js";
export {
  copyToTensorParallelRegion,
  reduceFromTensorParallelRegion,
  scatterToTensorParallelRegion,
  gatherFromTensorParallelRegion,
} from "./tensor-parallel/mappings.js";
export {
  ColumnParallelLinear,
  RowParallelLinear,
  type ParallelLinearOptions,
} from "./tensor-parallel/layers.js";
export { ModelParallelRng, MODEL_PARALLEL_SEED_OFFSET } from "./tensor-parallel/random.js";
export { checkpointAsync } from "./tensor-parallel/checkpoint.js";
export { clipGradNormTensorParallel } from "./tensor-parallel/grad-norm.js";
export {
  splitTensorParallelStateDict,
  mergeTensorParallelStateDicts,
  tensorParallelLayout,
  type Partition,
  type TensorParallelLayout,
  type TensorParallelModule,
} from "./tensor-parallel/state-dict.js";
export { divide } from "./tensor-parallel/utils.js";
export {
  DistributedOptimizer,
  partitionParameters,
  type DistributedOptimizerOptions,
  type OptimizerFactory,
} from "./optimizer/distrib-optimizer.js";
