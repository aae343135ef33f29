/**
 * @vit/tensor — WebGPU tensors, WGSL kernels and define-by-run autograd.
 * See README.md for the execution model (batched submission, scopes) and the op list.
 */
export { Device, getDefaultDevice, setDefaultDevice } from "./device.js";
export type { DeviceOptions, AdapterSummary, ProgramDesc } from "./device.js";
export type { MemoryStats } from "./allocator.js";
export { Tensor } from "./tensor.js";
export type { DType, HostArray } from "./dtype.js";
export { DTYPES, bytesPerElement } from "./dtype.js";
export * from "./errors.js";
export { scope, keep } from "./scope.js";
export { noGrad, enableGrad, isGradEnabled, needsGrad, record } from "./autograd.js";
export { backwardFrom as backward } from "./backward.js";
// The backward engine's steps, for engines that await some nodes (tensor-parallel collectives).
export {
  beginBackward,
  takeGradient,
  applyNodeGradients,
  accumulate as accumulateGradient,
  topoOrder,
  type BackwardState,
} from "./backward.js";
export type { GradNode } from "./autograd.js";
export { type CheckpointHooks, type RngStream, checkpoint, checkpointWith } from "./checkpoint.js";
export { autocast, autocastDtype, type AutocastDtype } from "./autocast.js";
export {
  tensor,
  zeros,
  ones,
  full,
  rand,
  randn,
  truncNormal,
  zerosLike,
  onesLike,
  type CreateOptions,
} from "./io.js";
export { hostCpuKey } from "./host-cpu.js";
export { philoxUniform, philoxNormal, philox4x32 } from "./rng.js";
export { f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits, f16BitsToF32 } from "@vit/half";
export {
  elementwise,
  neg,
  exp,
  log,
  sqrt,
  rsqrt,
  tanh,
  sigmoid,
  relu,
  abs,
  square,
  reciprocal,
  gelu,
  geluTanh,
  addScalar,
  mulScalar,
  powScalar,
  clone,
  expand,
  add,
  sub,
  mul,
  div,
  maximum,
} from "./ops/elementwise.js";
export { sum, mean, max, sumTo } from "./ops/reduce.js";
export { countNonFinite } from "./ops/finite.js";
export { matmul } from "./matmul/dispatch.js";
export type { MatmulOptions, MatmulActivation } from "./matmul/plan.js";
export { matmulKernelFor, setMatmulKernelOverride, setMatmulAutocast } from "./matmul/select.js";
export { autotuneMatmul, ensureMatmulTuning, type AutotuneResult } from "./matmul/tune.js";
export { probeSubgroupMatrix, subgroupMatrixStatus } from "./matmul/subgroup.js";
export {
  adapterKey,
  tuningKey,
  KERNELS_VERSION,
  matmulTuning,
  shapeClass,
  autotuneCachePath,
  type MatmulKernelKind,
  type MatmulTuning,
} from "./matmul/config.js";
export { reshape, permute, transpose, slice, concat, indexSelect } from "./ops/movement.js";
export { cast } from "./ops/cast.js";
export { softmax } from "./ops/softmax.js";
export { layerNorm } from "./ops/layernorm.js";
export { dropout } from "./ops/dropout.js";
export { crossEntropy, type CrossEntropyOptions } from "./ops/cross-entropy.js";
export { attentionNaive, packedAttention, type AttentionFn, type AttentionOptions } from "./ops/attention.js";
export { flashAttention } from "./ops/flash-attention.js";
export { patchify } from "./ops/patchify.js";
// Kernel-authoring helpers for packages that add fused GPU ops of their own (optimizers, collectives).
export {
  declareBindings,
  grid1D,
  main1D,
  wgslType,
  type UniformFields,
  type BindingDecl,
} from "./kernels/wgsl.js";
export { defineKernel, type Kernel } from "./kernels/kernel.js";
export { PHILOX_WGSL, nextOffset } from "./rng.js";
