/**
 * Mixed precision. WGSL has no bf16 arithmetic, so bf16 is a storage format here: under
 * `autocast("bf16", fn)` every matmul rounds its operands to bf16 (round-to-nearest-even, as CUDA's
 * autocast does before a bf16 GEMM) and keeps only those bf16 copies for backward — half the activation
 * memory of f32 — while the products accumulate in f32 registers. A bf16 operand (Megatron O2 stores the
 * weights in bf16) takes the same path with or without autocast.
 */
let active: AutocastDtype | null = null;

/**
 * "f16" (fp16 mixed precision, NeMo's precision 16) works the same way with f16 operands; it needs the
 * adapter's shader-f16 feature (the first f16 cast refuses without it) and a loss scaler against the
 * narrow f16 range (@vit/optim LossScaler).
 */
export type AutocastDtype = "bf16" | "f16";

/** Runs `fn` with matmuls in bf16 or f16 (operands rounded, products accumulated in f32). */
export function autocast<R>(dtype: AutocastDtype | null, fn: () => R): R {
  const saved = active;
  active = dtype;
  let async = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      async = true;
      return r.finally(() => {
        active = saved;
      }) as R;
    }
    return r;
  } finally {
    if (!async) active = saved;
  }
}

export function autocastDtype(): AutocastDtype | null {
  return active;
}
