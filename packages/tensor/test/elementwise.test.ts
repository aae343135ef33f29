import { describe, it } from "vitest";
import * as T from "../src/index.js";
import { check, inputs, useDevice } from "./helpers.js";
import { erf, geluRef, geluTanhRef, map1, map2 } from "./ref.js";

const ctx = useDevice();

const unary: Array<[string, (t: T.Tensor) => T.Tensor, (x: number) => number, number, number]> = [
  ["neg", T.neg, (x) => -x, -2, 2],
  ["exp", T.exp, Math.exp, -2, 2],
  ["log", T.log, Math.log, 0.5, 3],
  ["sqrt", T.sqrt, Math.sqrt, 0.5, 3],
  ["rsqrt", T.rsqrt, (x) => 1 / Math.sqrt(x), 0.5, 3],
  ["tanh", T.tanh, Math.tanh, -3, 3],
  ["sigmoid", T.sigmoid, (x) => 1 / (1 + Math.exp(-x)), -4, 4],
  ["square", T.square, (x) => x * x, -2, 2],
  ["reciprocal", T.reciprocal, (x) => 1 / x, 0.5, 2],
  ["gelu (erf)", T.gelu, geluRef, -4, 4],
  ["gelu (tanh)", T.geluTanh, geluTanhRef, -4, 4],
];

describe("unary ops match float64 and finite differences", () => {
  for (const [name, fn, ref, lo, hi] of unary) {
    it(name, async () => {
      for (const shape of [[1], [3, 17], [2, 197]]) {
        await check(ctx.dev, ([x]) => fn(x!), ([x]) => map1(x!, ref), inputs([shape], shape.length, lo, hi));
      }
    });
  }
  it("erf reference is right (erf(1) = 0.8427007929497149)", async () => {
    const { expect } = await import("vitest");
    expect(Math.abs(erf(1) - 0.8427007929497149)).toBeLessThan(1e-14);
  });
});

describe("binary ops with broadcasting", () => {
  const cases: Array<[number[], number[]]> = [
    [[3, 17], [3, 17]],
    [[2, 3, 17], [17]],
    [[4, 1, 5], [1, 3, 1]],
    [[197], [1]],
    [[1], [3, 4]],
  ];
  const ops: Array<[string, (a: T.Tensor, b: T.Tensor) => T.Tensor, (x: number, y: number) => number]> = [
    ["add", T.add, (x, y) => x + y],
    ["sub", T.sub, (x, y) => x - y],
    ["mul", T.mul, (x, y) => x * y],
    ["div", T.div, (x, y) => x / y],
    ["maximum", T.maximum, (x, y) => Math.max(x, y)],
  ];
  for (const [name, fn, ref] of ops) {
    it(name, async () => {
      for (const [sa, sb] of cases) {
        const lo = name === "div" ? 0.5 : -1;
        await check(ctx.dev, ([a, b]) => fn(a!, b!), ([a, b]) => map2(a!, b!, ref), inputs([sa, sb], sa.length * 7 + sb.length, lo, 2));
      }
    });
  }
});

describe("scalar ops", () => {
  it("addScalar, mulScalar, powScalar, expand", async () => {
    const xs = inputs([[3, 17]], 5, 0.5, 2);
    await check(ctx.dev, ([x]) => T.addScalar(x!, 2.5), ([x]) => map1(x!, (v) => v + 2.5), xs);
    await check(ctx.dev, ([x]) => T.mulScalar(x!, -1.5), ([x]) => map1(x!, (v) => v * -1.5), xs);
    await check(ctx.dev, ([x]) => T.powScalar(x!, 1.7), ([x]) => map1(x!, (v) => v ** 1.7), xs);
    const e = inputs([[3, 1]], 6);
    await check(
      ctx.dev,
      ([x]) => T.expand(x!, [2, 3, 4]),
      ([x]) => map2(x!, { shape: [2, 3, 4], data: new Float64Array(24) }, (a) => a),
      e,
    );
  });
});
