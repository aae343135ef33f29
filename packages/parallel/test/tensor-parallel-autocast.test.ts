/**
 * Tensor parallelism under autocast: matmuls then give half activations, and the collectives (f32 only)
 * must still reduce and gather them. Column(gather) → Row at TP = 2 against the same layers' f32 run.
 */
import { Device, type Tensor, autocast, mean, square, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ColumnParallelLinear,
  RowParallelLinear,
  backwardAsync,
  createInProcessGroups,
  runRanks,
} from "../src/index.js";
import { hostRandom, relErr } from "./helpers.js";

let devs: Device[];
beforeAll(async () => {
  devs = [await Device.create({ seed: 5 }), await Device.create({ seed: 5 })];
});
afterAll(() => devs?.forEach((d) => d.destroy()));

const f32 = async (t: Tensor) => Float32Array.from((await t.data()) as Float32Array);

describe("tensor-parallel layers under autocast", () => {
  for (const half of ["bf16", "f16"] as const) {
    it(`${half}: the half partial sums are all-reduced and gathered in f32; output and gradients track f32`, async () => {
      if (half === "f16" && !devs[0]!.hasFeature("shader-f16")) return;
      const [I, H, O] = [8, 12, 6];
      const xh = hostRandom(3 * I, 9);
      const res = await runRanks(createInProcessGroups(2), async (g) => {
        const dev = devs[g.rank]!;
        const c = new ColumnParallelLinear(dev, g, I, H, { gatherOutput: true });
        const row = new RowParallelLinear(dev, g, H, O, { inputIsParallel: false });
        // The same layers twice: f32, then under autocast.
        const once = async (dt: typeof half | null) => {
          const xr = tensor(dev, xh, [3, I], { requiresGrad: true });
          const y = await autocast(dt, async () => row.forward(await c.forward(xr)));
          await backwardAsync(mean(square(y)));
          return { dtype: y.dtype, out: await f32(y), dx: await f32(xr.grad!) };
        };
        return { ref: await once(null), got: await once(half) };
      });
      const tol = half === "bf16" ? 3e-2 : 4e-3;
      for (const { ref, got } of res) {
        // The row-parallel output is the f32 all-reduce of half partial sums.
        expect(got.dtype).toBe("f32");
        expect(relErr(got.out, ref.out)).toBeLessThan(tol);
        expect(relErr(got.dx, ref.dx)).toBeLessThan(tol);
      }
    });
  }
});
