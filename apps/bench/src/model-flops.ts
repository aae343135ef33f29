/**
 * Model FLOPs of one ViT training step, counted analytically as MFU figures are (PaLM, Megatron-LM): one
 * multiply-add = 2 FLOPs, matmuls only. Forward, per image, with D = hidden size, F = MLP size, L layers,
 * Np = img_h·img_w/P² patches and S = Np + class tokens:
 *   patch embedding   2·Np·(P²·C)·D
 *   each layer        2·S·(3D² + D² + 2·D·F)     qkv, proj, fc1, fc2 over the S tokens
 *                   + 2·2·S²·D                   Q·Kᵀ and P·V (the heads split D, so the sum is D)
 *   head              2·D·classes (+ 2·D² for the mlp_tanh pre-logits) on the one pooled vector
 * A training step is 3 × forward (each forward matmul has a dX and a dW matmul in backward), i.e.
 * 6 × Σ(matmul weights × tokens each sees) + 12·L·S²·D per image. Left out: layer norms, softmax, GELU,
 * the optimizer (a few % together), and the recomputation of flash attention's or activation
 * checkpointing's backward (model FLOPs, not hardware FLOPs). ViT-B/16 at 224²: 17.56 G multiply-adds
 * forward, the 17.6 "GFLOPs" the DeiT and timm tables quote.
 */
import { type ViTConfig, parameterShapes, sequenceLength } from "@vit/model";

/** Forward FLOPs per image (2 per multiply-add). */
export function vitForwardFlopsPerImage(c: ViTConfig): number {
  const S = sequenceLength(c);
  const patches = S - c.class_token_length;
  let macs = 0;
  // The weight matrices come from the model's own parameter layout (biases and norms are not matmuls).
  for (const { name, shape } of parameterShapes(c)) {
    if (shape.length !== 2 || !name.endsWith(".weight")) continue;
    const tokens = name.startsWith("patch_embed.") ? patches : name.startsWith("blocks.") ? S : 1;
    macs += tokens * shape[0]! * shape[1]!;
  }
  macs += c.num_layers * 2 * S * S * c.hidden_size;
  return 2 * macs;
}

/** Model FLOPs of one training step (forward + backward) per image. */
export function vitTrainFlopsPerImage(c: ViTConfig): number {
  return 3 * vitForwardFlopsPerImage(c);
}

/** Model FLOPs utilisation: achieved model FLOP/s over the GPU's peak for the dtype. */
export function mfu(flopsPerImage: number, imagesPerSecond: number, peakTflops: number): number {
  return (flopsPerImage * imagesPerSecond) / (peakTflops * 1e12);
}
