/**
 * The vectorised and chunked paths of the row kernels (elementwise vec4, leading/trailing reductions,
 * layernorm with d % 4 == 0 and many rows) against the float64 references, forward and backward. The
 * older tests use odd widths, which exercise the scalar paths.
 */
import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { check, inputs, useDevice } from "./helpers.js";
import { geluRef, layerNormRef, map1, map2, reduce, relErr } from "./ref.js";

const ctx = useDevice();

describe("elementwise vec4 paths", () => {
  it("same-shape binary and unary ops (plain vec4)", async () => {
    await check(
      ctx.dev,
      ([a, b]) => T.mul(T.add(a!, b!), b!),
      ([a, b]) =>
        map2(
          map2(a!, b!, (x, y) => x + y),
          b!,
          (x, y) => x * y,
        ),
      inputs(
        [
          [9, 12],
          [9, 12],
        ],
        1,
      ),
    );
    await check(
      ctx.dev,
      ([a]) => T.gelu(a!),
      ([a]) => map1(a!, geluRef),
      inputs([[3, 5, 8]], 2, -3, 3),
      { gradTol: 2e-4 },
    );
  });
  it("broadcast along leading dims and along the last dim (per-row scalars)", async () => {
    await check(
      ctx.dev,
      ([a, b]) => T.add(a!, b!),
      ([a, b]) => map2(a!, b!, (x, y) => x + y),
      inputs(
        [
          [2, 3, 8],
          [1, 3, 8],
        ],
        3,
      ),
    );
    await check(
      ctx.dev,
      ([a, b]) => T.sub(a!, b!),
      ([a, b]) => map2(a!, b!, (x, y) => x - y),
      inputs([[4, 12], [12]], 4),
    );
    await check(
      ctx.dev,
      ([a, b]) => T.mul(a!, b!),
      ([a, b]) => map2(a!, b!, (x, y) => x * y),
      inputs(
        [
          [5, 8],
          [5, 1],
        ],
        5,
      ),
    );
    await check(
      ctx.dev,
      ([a, b]) => T.div(a!, b!),
      ([a, b]) => map2(a!, b!, (x, y) => x / y),
      [inputs([[2, 3, 4]], 6)[0]!, inputs([[3, 1]], 7, 1, 2)[0]!],
    );
  });
  it("f16 vec4", async () => {
    if (!ctx.dev.hasFeature("shader-f16")) return;
    const a = T.tensor(ctx.dev, [1, 2, 3, 4, 5, 6, 7, 8], [2, 4], { dtype: "f16" });
    const b = T.tensor(ctx.dev, [0.5, 0.5, 0.5, 0.5], [4], { dtype: "f16" });
    const y = T.add(a, b);
    expect(Array.from(await y.data())).toEqual([1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5]);
    for (const t of [a, b, y]) t.dispose();
  });
});

describe("reductions: leading (chunked, two passes) and trailing axes", () => {
  const cases: Array<[number[], number[]]> = [
    [
      [3, 70, 8],
      [0, 1],
    ], // 210 rows of vec4 columns: 4 chunks
    [[130, 6], [0]], // scalar columns, 3 chunks
    [[5, 12], [1]], // trailing, vec4
    [
      [2, 3, 7],
      [1, 2],
    ], // trailing, scalar
  ];
  for (const [shape, axes] of cases) {
    it(`sum/mean/max over ${JSON.stringify(axes)} of [${shape}]`, async () => {
      const xs = inputs([shape], shape[0]! * 5 + axes.length);
      await check(
        ctx.dev,
        ([x]) => T.sum(x!, axes),
        ([x]) => reduce(x!, axes, "sum"),
        xs,
      );
      await check(
        ctx.dev,
        ([x]) => T.mean(x!, axes, true),
        ([x]) => reduce(x!, axes, "mean", true),
        xs,
      );
      await check(
        ctx.dev,
        ([x]) => T.max(x!, axes),
        ([x]) => reduce(x!, axes, "max"),
        xs,
      );
    });
  }
  it("sumTo of a bias gradient [B, S, N] -> [N]", async () => {
    const [g] = inputs([[4, 33, 16]], 9);
    const gt = T.tensor(ctx.dev, Float32Array.from(g!.data), g!.shape);
    const s = T.sumTo(gt, [16]);
    expect(relErr(await s.data(), reduce(g!, [0, 1], "sum").data)).toBeLessThan(1e-5);
    gt.dispose();
    s.dispose();
  });
});

describe("layernorm, vec4 rows and chunked parameter gradients", () => {
  it("d = 128 over 130 rows", async () => {
    await check(
      ctx.dev,
      ([x, w, b]) => T.layerNorm(x!, w!, b!, 1e-5),
      ([x, w, b]) => layerNormRef(x!, w!, b!, 1e-5),
      inputs([[130, 128], [128], [128]], 31),
      { gradTol: 3e-4, grads: [1, 2] },
    );
  });
  it("d = 12 with and without affine, input gradient", async () => {
    await check(
      ctx.dev,
      ([x, w, b]) => T.layerNorm(x!, w!, b!, 1e-6),
      ([x, w, b]) => layerNormRef(x!, w!, b!, 1e-6),
      inputs([[2, 9, 12], [12], [12]], 32),
      { gradTol: 2e-4 },
    );
    await check(
      ctx.dev,
      ([x]) => T.layerNorm(x!, null, null, 1e-5),
      ([x]) => layerNormRef(x!, null, null, 1e-5),
      inputs([[7, 12]], 33),
      { gradTol: 2e-4 },
    );
  });
});
