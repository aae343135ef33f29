/**
 * @vit/parallel — data parallelism, Megatron's tensor-parallel core (mappings, parallel linear layers,
 * RNG tracker, async autograd and checkpointing, state-dict split/merge, grad norm) and the distributed
 * optimizer (ZeRO-1) for @vit/nn modules; the tensor-parallel ViT lives in @vit/model. All of it runs
 * over one ProcessGroup interface with an in-process backend (several Devices in one process), a
 * multi-process TCP backend (torchrun's environment conventions) and an MPI backend (mpirun, srun).
 * See README.md.
 */
// Everything that runs in a page too (the in-process backend, the tensor-parallel core, DP, ZeRO).
export * from "./browser.js";
// Node-only: the multi-process backends and the launcher's environment.
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
