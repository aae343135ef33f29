/**
 * Parameter groups: timm's rule puts biases, norm weights (any 1-D parameter), position embeddings and
 * class tokens in a group without weight decay.
 */
import type { Tensor } from "@vit/tensor";

export interface ParamGroup {
  params: Array<[string, Tensor]>;
  weightDecay: number;
  /** Multiplies the scheduled learning rate (layer-wise decay, heads trained faster, ...). */
  lrScale?: number;
}

export const NO_DECAY_NAMES = ["pos_embed", "cls_token"];

export function isNoDecay(name: string, t: Tensor): boolean {
  return (
    t.rank <= 1 || name.endsWith(".bias") || NO_DECAY_NAMES.some((n) => name === n || name.endsWith(`.${n}`))
  );
}

/**
 * Megatron/NeMo's rule (get_params_for_weight_decay_optimization, do_layer_norm_weight_decay: false):
 * biases and LayerNorm parameters get no weight decay; everything else does, position embeddings and
 * class tokens included. (In a ViT the 1-D parameters are exactly the biases and the norm weights.)
 */
export function isNoDecayMegatron(name: string, t: Tensor): boolean {
  return t.rank <= 1 || name.endsWith(".bias");
}

/** Splits named parameters into a decayed and a non-decayed group (timm's param_groups_weight_decay). */
export function paramGroupsWeightDecay(
  named: Array<[string, Tensor]>,
  weightDecay: number,
  noDecay: (name: string, t: Tensor) => boolean = isNoDecay,
): ParamGroup[] {
  const decay = named.filter(([n, t]) => !noDecay(n, t));
  const skip = named.filter(([n, t]) => noDecay(n, t));
  return [
    { params: decay, weightDecay },
    { params: skip, weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
}
