import { it } from "vitest";
import * as T from "../src/index.js";
import { flashAttentionWith, type FlashTuning } from "../src/ops/flash-attention.js";
import { relErr, randArr } from "./ref.js";

it("quick", async () => {
  const dev = await T.Device.create({ seed: 7 });
  const sg: FlashTuning = { variant: "subgroup", wg: 8, kb: 8, bc: 0, constD: false };
  const di: FlashTuning = { variant: "direct", wg: 8, kb: 8, bc: 0, constD: false };
  const ti: FlashTuning = { variant: "tiled", wg: 64, kb: 8, bc: 64, constD: true };
  for (const [S, D, p, tun] of [[17, 32, 0, sg], [197, 64, 0.2, sg], [17, 80, 0.1, ti], [33, 5, 0.1, di], [65, 6, 0.3, ti], [20, 12, 0.3, sg], [1, 16, 0.5, sg], [70, 16, 0.5, di]] as const) {
    const shape = [2, 3, S, D];
    const mk = (s: number) => T.tensor(dev, Float32Array.from(randArr(shape, s, -2, 2).data), shape, { requiresGrad: true });
    const q = mk(1), k = mk(2), v = mk(3);
    const R = T.tensor(dev, Float32Array.from(randArr(shape, 9).data), shape);
    const off = dev.rng.offset;
    const on = T.attentionNaive(q, k, v, { dropout: p, scale: 0.3 });
    T.sum(T.mul(on, R)).backward();
    const gn = [await on.data(), await q.grad!.data(), await k.grad!.data(), await v.grad!.data()];
    for (const t of [q, k, v]) { t.grad!.dispose(); t.grad = null; }
    dev.rng.offset = off;
    const t0 = performance.now();
    const of = flashAttentionWith(q, k, v, { dropout: p, scale: 0.3 }, tun);
    T.sum(T.mul(of, R)).backward();
    const gf = [await of.data(), await q.grad!.data(), await k.grad!.data(), await v.grad!.data()];
    console.log(S, D, p, tun.variant, gn.map((a, i) => relErr(gf[i]!, a).toExponential(2)).join(" "), (performance.now() - t0).toFixed(0), "ms");
  }
  dev.destroy();
}, 600000);
