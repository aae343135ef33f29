/**
 * The keys of a config that are accepted for NeMo/Lightning compatibility but change nothing here, each
 * group with its reason, and the keys that run differently from NeMo. The CLI prints these once at start.
 */
import type { TrainConfig } from "./schema.js";

/** Groups of keys with no effect here, and why. */
const NO_EFFECT: Array<{ why: string; keys: string[] }> = [
  {
    why: "CUDA kernel switches; WebGPU runs its own kernels",
    keys: [
      "model.masked_softmax_fusion",
      "model.bias_dropout_add_fusion",
      "model.bias_activation_fusion",
      "model.gradient_accumulation_fusion",
      "model.persist_layer_norm",
      "model.grad_div_ar_fusion",
      "trainer.benchmark",
    ],
  },
  {
    why: "PyTorch DDP / apex / Nsight settings; vit's data parallelism and logging are its own",
    keys: [
      "model.gradient_as_bucket_view",
      "model.grad_allreduce_chunk_size_mb",
      "model.nsys_profile",
      "model.apex_transformer_log_level",
      "model.onnx_safe",
    ],
  },
  {
    why: "same maths here: with fp32 softmax Megatron divides Q·Kᵀ by the layer number and multiplies it back",
    keys: ["model.apply_query_key_layer_scaling"],
  },
  { why: "the residual stream is always fp32 here", keys: ["model.fp32_residual_connection"] },
  { why: "language-model heads only", keys: ["model.fp16_lm_cross_entropy"] },
  {
    why: "the single-device initialisation is always the one split over tensor-parallel ranks",
    keys: ["model.use_cpu_initialization"],
  },
  { why: "always the WebGPU adapter", keys: ["trainer.accelerator"] },
  {
    why: "vit's own logging, checkpoints (exp_manager) and distributed sampler are used",
    keys: [
      "trainer.logger",
      "trainer.enable_checkpointing",
      "trainer.use_distributed_sampler",
      "trainer.replace_sampler_ddp",
      "trainer.enable_model_summary",
      "trainer.enable_progress_bar",
      "exp_manager.create_tensorboard_logger",
      "model.data.data_sharding",
    ],
  },
  {
    why: "there is no separate test loop (`vit eval` evaluates the whole split)",
    keys: ["trainer.limit_test_batches"],
  },
  {
    why: "vit keeps the last exp_manager.checkpoint.keep_last checkpoints plus best.safetensors, named step-N.safetensors; no .nemo archives",
    keys: [
      "exp_manager.checkpoint_callback_params.save_top_k",
      "exp_manager.checkpoint_callback_params.save_last",
      "exp_manager.checkpoint_callback_params.filename",
      "exp_manager.checkpoint_callback_params.always_save_nemo",
      "exp_manager.checkpoint_callback_params.save_nemo_on_train_end",
      "exp_manager.checkpoint_callback_params.save_best_model",
      "exp_manager.checkpoint_callback_params.model_parallel_size",
    ],
  },
  { why: "create_wandb_logger is false", keys: ["exp_manager.wandb_logger_kwargs"] },
];

function has(cfg: TrainConfig, dotted: string): boolean {
  let node: unknown = cfg;
  for (const k of dotted.split(".")) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, k)) return false;
    node = (node as Record<string, unknown>)[k];
  }
  return node !== undefined;
}

/** One line per group of keys present: "no effect here: a, b (why)", then keys that run differently. */
export function configNotes(cfg: TrainConfig): string[] {
  const groups = [...NO_EFFECT];
  if (cfg.trainer.precision !== 16) {
    groups.push({
      why: "fp16 loss-scaler settings; trainer.precision is not 16",
      keys: ["model.native_amp_init_scale", "model.native_amp_growth_interval", "model.hysteresis"],
    });
  }
  if (cfg.model.tensor_model_parallel_size === 1) {
    groups.push({ why: "tensor_model_parallel_size is 1", keys: ["model.sequence_parallel"] });
  }
  const parts = groups
    .map((g) => ({ ...g, keys: g.keys.filter((k) => has(cfg, k)) }))
    .filter((g) => g.keys.length > 0)
    .map((g) => `${g.keys.join(", ")} (${g.why})`);
  const notes = parts.map((p) => `no effect here: ${p}`);
  if (cfg.trainer.precision === "bf16-true") {
    notes.push(
      "trainer.precision=bf16-true runs as bf16 with bf16 weights and an fp32 master copy in the optimizer (megatron_amp_O2); Lightning's bf16-true keeps no fp32 copy",
    );
  }
  return notes;
}
