/**
 * NeMo's activation-checkpointing schedule, shared by both encoders: VisionTransformer runs it with
 * @vit/tensor's checkpoint, TensorParallelViT with @vit/parallel's checkpointAsync (the same
 * implementation, for layers that await collectives).
 */
import type { AttentionFn } from "@vit/nn";
import { checkpoint } from "@vit/tensor";

/** NeMo's activation-checkpointing keys (activations_checkpoint_method / _num_layers / _granularity). */
export interface ActivationCheckpointing {
  /** 'uniform': checkpoint groups of `num_layers` layers; 'block': the first `num_layers` layers only. */
  method: "uniform" | "block";
  num_layers: number;
  /** 'full' recomputes whole layers; 'selective' only the attention core. */
  granularity?: "full" | "selective";
}

/** Layers [from, to) run as one piece: plainly, recomputed whole, or with only their attention core recomputed. */
export interface Segment {
  from: number;
  to: number;
  recompute: "none" | "layers" | "attention";
}

/** How `numLayers` layers run under `ck` (nothing is recomputed outside training). */
export function checkpointSegments(
  ck: ActivationCheckpointing | null,
  numLayers: number,
  training: boolean,
): Segment[] {
  const L = numLayers;
  if (!ck || ck.num_layers <= 0 || !training) return [{ from: 0, to: L, recompute: "none" }];
  const each = (recompute: (i: number) => Segment["recompute"]) =>
    Array.from({ length: L }, (_, i): Segment => ({ from: i, to: i + 1, recompute: recompute(i) }));
  // Megatron's selective recompute: every layer's attention core, whatever the method.
  if (ck.granularity === "selective") return each(() => "attention");
  if (ck.method === "block") return each((i) => (i < ck.num_layers ? "layers" : "none"));
  const out: Segment[] = [];
  for (let i = 0; i < L; i += ck.num_layers)
    out.push({ from: i, to: Math.min(L, i + ck.num_layers), recompute: "layers" });
  return out;
}

/** Runs `body` with `attn`'s attention core checkpointed (recomputed in backward), then restores it. */
export function withAttentionRecomputed<R>(attn: { attentionFn: AttentionFn }, body: () => R): R {
  const inner = attn.attentionFn;
  attn.attentionFn = (q, k, v, o) => checkpoint((a, b, c) => inner(a, b, c, o), q, k, v);
  try {
    return body();
  } finally {
    attn.attentionFn = inner;
  }
}
