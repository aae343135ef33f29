/**
 * @vit/parallel — data parallelism, Megatron's tensor-parallel core (mappings, parallel linear layers,
 * RNG tracker, async autograd and checkpointing, state-dict split/merge, grad norm) and the distributed
 * optimizer (ZeRO-1) for @vit/nn modules; the tensor-parallel ViT lives in @vit/model. All of it runs
 * over one ProcessGroup interface with an in-process backend (several Devices in one process), a
 * multi-process TCP backend (torchrun's environment conventions) and an MPI backend (mpirun, srun).
 * See README.md.
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
export { TcpProcessGroup, type TcpOptions } from "./backends/tcp.js";
export {
  MPI_CHECK_ENV,
  MPI_REDUCE_ENV,
  MpiProcessGroup,
  mpiUnavailableReason,
  type MpiOptions,
} from "./backends/mpi.js";
export {
  COLLECTIVE_TIMEOUT_ENV,
  DIST_BACKEND_ENV,
  distBackend,
  collectiveTimeoutMs,
  distributedEnv,
  initProcessGroup,
  type DistributedEnv,
  type InitOptions,
} from "./backends/env.js";
export { JOB_TOKEN_ENV, newJobToken } from "./backends/handshake.js";
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
