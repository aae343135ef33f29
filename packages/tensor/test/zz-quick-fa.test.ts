import { it, expect } from "vitest";
import * as T from "../src/index.js";
import { flashAttentionWith } from "../src/ops/flash-attention.js";
import { relErr, randArr } from "../test/ref.js";

it("quick", async () => {
  const dev = await T.Device.create({ seed: 7 });
  for (const [S, D, p, variant] of [[17, 32, 0, "direct"], [197, 64, 0.2, "direct"], [17, 80, 0.1, "tiled"], [33, 5, 0.1, "direct"], [65, 6, 0.3, "tiled"]] as const) {
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
    const tuning = variant === "tiled" ? { variant, wg: 64, bc: 0 } : undefined;
    const of = flashAttentionWith(q, k, v, { dropout: p, scale: 0.3 }, tuning);
    T.sum(T.mul(of, R)).backward();
    const gf = [await of.data(), await q.grad!.data(), await k.grad!.data(), await v.grad!.data()];
    console.log(S, D, p, variant, gn.map((a, i) => relErr(gf[i]!, a).toExponential(2)).join(" "));
  }
  dev.destroy();
}, 120000);
