/**
 * The tfjs peer's training step, independent of where tfjs runs: the same tiny ViT as ours (timm style:
 * 1 class token, patch embedding, pre-LN blocks with erf GELU, final LayerNorm, linear head on token 0)
 * written with tfjs-core ops, trained with tf.train.adam through tf's autograd (optimizer.minimize). Node
 * (./tfjs-vit.ts, on Dawn) and the browser suite's page (on navigator.gpu) both time this function.
 */
import type * as tfc from "@tensorflow/tfjs-core";

export interface TfVitConfig {
  batch: number;
  img: number;
  channels: number;
  patch: number;
  dim: number;
  layers: number;
  heads: number;
  mlp: number;
  classes: number;
}

export const TINY: TfVitConfig = {
  batch: 64,
  img: 28,
  channels: 1,
  patch: 7,
  dim: 128,
  layers: 4,
  heads: 4,
  mlp: 512,
  classes: 10,
};

/**
 * images/s of tfjs training steps, one value per repeat of `steps` steps (after two warm-up steps). `tf` has
 * its webgpu backend set and gradients registered; `wait` waits for a readback (polling is the caller's).
 */
export async function tfjsVitSteps(
  tf: typeof tfc,
  c: TfVitConfig,
  steps: number,
  repeats: number,
  wait: <T>(p: Promise<T>) => Promise<T>,
): Promise<number[]> {
  const g = c.img / c.patch;
  const N = g * g;
  const S = N + 1;
  const P = c.patch * c.patch * c.channels;
  const hd = c.dim / c.heads;
  const v = (shape: number[], std: number) =>
    tf.variable(std ? tf.randomNormal(shape, 0, std) : tf.zeros(shape));
  const ones = (n: number) => tf.variable(tf.ones([n]));
  const params = {
    pe: v([P, c.dim], 0.02),
    peb: v([c.dim], 0),
    cls: v([1, 1, c.dim], 0.02),
    pos: v([1, S, c.dim], 0.02),
    blocks: Array.from({ length: c.layers }, () => ({
      g1: ones(c.dim),
      b1: v([c.dim], 0),
      qkv: v([c.dim, 3 * c.dim], 0.02),
      qkvb: v([3 * c.dim], 0),
      proj: v([c.dim, c.dim], 0.02),
      projb: v([c.dim], 0),
      g2: ones(c.dim),
      b2: v([c.dim], 0),
      fc1: v([c.dim, c.mlp], 0.02),
      fc1b: v([c.mlp], 0),
      fc2: v([c.mlp, c.dim], 0.02),
      fc2b: v([c.dim], 0),
    })),
    gn: ones(c.dim),
    bn: v([c.dim], 0),
    head: v([c.dim, c.classes], 0.02),
    headb: v([c.classes], 0),
  };
  const ln = (x: tfc.Tensor, gamma: tfc.Tensor, beta: tfc.Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), gamma), beta);
  };
  const gelu = (x: tfc.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  const dense = (x: tfc.Tensor, w: tfc.Tensor, b: tfc.Tensor) => {
    const [B, T, D] = x.shape as number[];
    return tf.reshape(tf.add(tf.matMul(tf.reshape(x, [B! * T!, D!]), w), b), [B!, T!, w.shape[1]!]);
  };
  const x = tf.randomNormal([c.batch, c.channels, c.img, c.img]);
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: c.batch }, (_, i) => i % c.classes),
      "int32",
    ),
    c.classes,
  );
  const forward = () => {
    const B = c.batch;
    const patches = tf.reshape(
      tf.transpose(tf.reshape(x, [B, c.channels, g, c.patch, g, c.patch]), [0, 2, 4, 3, 5, 1]),
      [B, N, P],
    );
    let h = dense(patches, params.pe, params.peb);
    h = tf.add(tf.concat([tf.tile(params.cls, [B, 1, 1]), h], 1), params.pos);
    for (const blk of params.blocks) {
      const a = ln(h, blk.g1, blk.b1);
      const qkv = tf.transpose(
        tf.reshape(dense(a, blk.qkv, blk.qkvb), [B, S, 3, c.heads, hd]),
        [2, 0, 3, 1, 4],
      );
      const [q, k, vv] = tf.unstack(qkv, 0) as [tfc.Tensor, tfc.Tensor, tfc.Tensor];
      const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)));
      const o = tf.reshape(tf.transpose(tf.matMul(att, vv), [0, 2, 1, 3]), [B, S, c.dim]);
      h = tf.add(h, dense(o, blk.proj, blk.projb));
      const m = ln(h, blk.g2, blk.b2);
      h = tf.add(h, dense(gelu(dense(m, blk.fc1, blk.fc1b)), blk.fc2, blk.fc2b));
    }
    const cls = tf.reshape(tf.slice(ln(h, params.gn, params.bn), [0, 0, 0], [B, 1, c.dim]), [B, c.dim]);
    const logits = tf.add(tf.matMul(cls, params.head), params.headb);
    return tf.losses.softmaxCrossEntropy(y, logits) as tfc.Scalar;
  };
  const opt = tf.train.adam(1e-3);
  const run = async (n: number) => {
    let loss: tfc.Scalar | null = null;
    for (let i = 0; i < n; i++) {
      loss?.dispose();
      loss = opt.minimize(forward, true) as tfc.Scalar;
    }
    await wait(loss!.data());
    loss!.dispose();
  };
  await run(2);
  const out: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    await run(steps);
    out.push((c.batch * steps) / ((performance.now() - t) / 1000));
  }
  tf.disposeVariables();
  x.dispose();
  y.dispose();
  return out;
}
