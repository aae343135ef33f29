import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { check, inputs, useDevice } from "./helpers.js";
import { type Arr, layerNormRef, map2, matmul, reduce, softmaxRef, relErr } from "./ref.js";

const ctx = useDevice();

describe("matmul", () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[1, 1], [1, 1], false, false],
    [[3, 17], [17, 5], false, false],
    [[33, 65], [65, 47], false, false],
    [[17, 3], [17, 5], true, false],
    [[3, 17], [5, 17], false, true],
    [[17, 3], [5, 17], true, true],
    [[2, 3, 9, 17], [17, 6], false, false],
    [[2, 9, 17], [2, 17, 6], false, false],
    [[2, 9, 17], [2, 6, 17], false, true],
    [[2, 17, 9], [2, 17, 6], true, false],
    [[2, 9, 17], [6, 17], false, true],
    [[9, 17], [3, 17, 6], false, false],
  ];
  for (const [sa, sb, ta, tb] of cases) {
    it(`[${sa}]${ta ? "ᵀ" : ""} × [${sb}]${tb ? "ᵀ" : ""}`, async () => {
      await check(
        ctx.dev,
        ([a, b]) => T.matmul(a!, b!, { transA: ta, transB: tb }),
        ([a, b]) => matmul(a!, b!, ta, tb),
        inputs([sa, sb], sa.length + sb[0]!),
      );
    });
  }
  it("197-row ViT-like shape with fused bias and alpha", async () => {
    await check(
      ctx.dev,
      ([a, w, b]) => T.matmul(a!, w!, { transB: true, bias: b!, alpha: 0.5 }),
      ([a, w, b]) => addBias(scale(matmul(a!, w!, false, true), 0.5), b!),
      inputs([[197, 8], [6, 8], [6]], 3),
    );
  });
  it("rejects mismatched inner dimensions, naming the shapes", async () => {
    const a = T.zeros(ctx.dev, [3, 4]);
    const b = T.zeros(ctx.dev, [5, 6]);
    expect(() => T.matmul(a, b)).toThrow(/matmul: cannot multiply \[3, 4\] by \[5, 6\]: inner dimensions differ \(4 vs 5\)/);
    a.dispose();
    b.dispose();
  });
});

function scale(a: Arr, s: number): Arr {
  return { shape: a.shape, data: a.data.map((v) => v * s) };
}
function addBias(a: Arr, b: Arr): Arr {
  return map2(a, b, (x, y) => x + y);
}

describe("reductions", () => {
  const cases: Array<[number[], number[]]> = [
    [[17], [0]],
    [[3, 17], [1]],
    [[3, 17], [0]],
    [[2, 3, 5], [0, 2]],
    [[4, 197], [0, 1]],
  ];
  for (const [shape, axes] of cases) {
    it(`sum/mean/max over ${JSON.stringify(axes)} of [${shape}]`, async () => {
      const xs = inputs([shape], shape.length * 3 + axes.length);
      await check(ctx.dev, ([x]) => T.sum(x!, axes), ([x]) => reduce(x!, axes, "sum"), xs);
      await check(ctx.dev, ([x]) => T.mean(x!, axes, true), ([x]) => reduce(x!, axes, "mean", true), xs);
      await check(ctx.dev, ([x]) => T.max(x!, axes), ([x]) => reduce(x!, axes, "max"), xs);
    });
  }
});

describe("softmax and layernorm", () => {
  it("softmax over the last axis", async () => {
    for (const shape of [[1, 1], [3, 17], [2, 4, 197]]) {
      await check(ctx.dev, ([x]) => T.softmax(x!), ([x]) => softmaxRef(x!), inputs([shape], shape.length, -4, 4));
    }
  });
  it("softmax is stable for large logits", async () => {
    const x = T.tensor(ctx.dev, [1000, 1001, 1002], [1, 3]);
    const y = await T.softmax(x).data();
    const e = [Math.exp(-2), Math.exp(-1), 1];
    const s = e[0]! + e[1]! + e[2]!;
    expect(relErr(y, e.map((v) => v / s))).toBeLessThan(1e-6);
  });
  it("layernorm with and without affine", async () => {
    for (const shape of [[1, 3], [5, 17], [2, 3, 197]]) {
      const d = shape[shape.length - 1]!;
      await check(
        ctx.dev,
        ([x, w, b]) => T.layerNorm(x!, w!, b!, 1e-5),
        ([x, w, b]) => layerNormRef(x!, w!, b!, 1e-5),
        inputs([shape, [d], [d]], d),
        { gradTol: 2e-4 },
      );
      await check(ctx.dev, ([x]) => T.layerNorm(x!, null, null, 1e-6), ([x]) => layerNormRef(x!, null, null, 1e-6), inputs([shape], d + 1), { gradTol: 2e-4 });
    }
  });
});
