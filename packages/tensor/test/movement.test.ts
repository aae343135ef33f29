import { describe, expect, it } from "vitest";
import * as T from "../src/index.js";
import { check, inputs, useDevice } from "./helpers.js";
import { type Arr, arr, concatRef, permute, relErr, sliceRef } from "./ref.js";

const ctx = useDevice();

describe("movement ops", () => {
  it("reshape keeps data and routes gradients", async () => {
    await check(ctx.dev, ([x]) => T.reshape(x!, [17, -1]), ([x]) => ({ shape: [17, 3], data: x!.data.slice() }), inputs([[3, 17]], 1));
  });
  it("permute / transpose", async () => {
    await check(ctx.dev, ([x]) => T.permute(x!, [2, 0, 1]), ([x]) => permute(x!, [2, 0, 1]), inputs([[2, 3, 17]], 2));
    await check(ctx.dev, ([x]) => T.transpose(x!), ([x]) => permute(x!, [0, 2, 1]), inputs([[3, 5, 7]], 3));
    await check(ctx.dev, ([x]) => T.permute(x!, [0, 2, 4, 3, 5, 1]), ([x]) => permute(x!, [0, 2, 4, 3, 5, 1]), inputs([[2, 3, 2, 2, 2, 2]], 4));
  });
  it("slice", async () => {
    await check(ctx.dev, ([x]) => T.slice(x!, 1, 3, 9), ([x]) => sliceRef(x!, 1, 3, 9), inputs([[3, 17]], 5));
    await check(ctx.dev, ([x]) => T.slice(x!, 0, 0, 1), ([x]) => sliceRef(x!, 0, 0, 1), inputs([[4, 197]], 6));
    expect(() => T.slice(T.zeros(ctx.dev, [3, 4]), 1, 2, 3)).toThrow(/slice: \[2, 5\) is outside axis 1 of \[3, 4\]/);
  });
  it("concat", async () => {
    await check(ctx.dev, ([a, b, c]) => T.concat([a!, b!, c!], 1), ([a, b, c]) => concatRef([a!, b!, c!], 1), inputs([[2, 1, 3], [2, 8, 3], [2, 5, 3]], 7));
    await check(ctx.dev, ([a, b]) => T.concat([a!, b!], 0), ([a, b]) => concatRef([a!, b!], 0), inputs([[1, 17], [3, 17]], 8));
  });
  it("indexSelect with repeated indices sums gradients", async () => {
    const idx = [2, 0, 2, 4];
    const ref = ([x]: Arr[]) => {
      const [, D] = x!.shape as [number, number];
      const o = arr([idx.length, D]);
      idx.forEach((r, j) => {
        for (let d = 0; d < D; d++) o.data[j * D + d] = x!.data[r * D + d]!;
      });
      return o;
    };
    const it32 = T.tensor(ctx.dev, Int32Array.from(idx), [idx.length]);
    await check(ctx.dev, ([x]) => T.indexSelect(x!, 0, it32), ref, inputs([[5, 3]], 9));
  });
  it("patchify orders (p1 p2 c) and (c p1 p2)", async () => {
    const [B, C, H, W, P] = [2, 3, 4, 6, 2];
    const ref = (order: string) => ([x]: Arr[]) => {
      const out = arr([B, (H / P) * (W / P), P * P * C]);
      let o = 0;
      for (let b = 0; b < B; b++)
        for (let i = 0; i < H / P; i++)
          for (let j = 0; j < W / P; j++)
            for (let u = 0; u < P * P * C; u++) {
              const [p1, p2, c] = order === "p1 p2 c" ? [Math.floor(u / (P * C)), Math.floor(u / C) % P, u % C] : [Math.floor(u / P) % P, u % P, Math.floor(u / (P * P))];
              out.data[o++] = x!.data[((b * C + c) * H + i * P + p1) * W + j * P + p2]!;
            }
      return out;
    };
    await check(ctx.dev, ([x]) => T.patchify(x!, P), ref("p1 p2 c"), inputs([[B, C, H, W]], 10));
    await check(ctx.dev, ([x]) => T.patchify(x!, P, "c p1 p2"), ref("c p1 p2"), inputs([[B, C, H, W]], 11));
  });
});

describe("dtypes and casts", () => {
  it("f32 → bf16 → f32 rounds to nearest even, odd lengths included", async () => {
    const vals = [1, 1.00390625, 1.01171875, -3.14159, 65504, 1e-3, 0, -0, 3e38];
    const x = T.tensor(ctx.dev, vals, [vals.length]);
    const b = T.cast(x, "bf16");
    const back = await b.data();
    const expected = vals.map((v) => T.bf16BitsToF32(T.f32ToBf16Bits(v)));
    expect(Array.from(back)).toEqual(expected);
    expect(back[1]).toBe(1); // 1 + 2^-8 is a tie: rounds to even (1.0)
    expect(back[2]).toBe(1.015625);
  });
  it("f16 when the adapter has shader-f16", async () => {
    if (!ctx.dev.hasFeature("shader-f16")) {
      expect(() => T.zeros(ctx.dev, [2], { dtype: "f16" })).toThrow(/shader-f16/);
      return;
    }
    const x = T.tensor(ctx.dev, [0.1, 2.5, -7.25, 1000.7], [4]);
    const h = T.cast(x, "f16");
    expect(h.dtype).toBe("f16");
    const y = await T.add(h, h).data();
    const ref = [0.1, 2.5, -7.25, 1000.7].map((v) => 2 * T.f16BitsToF32(T.f32ToF16Bits(v)));
    expect(relErr(y, ref)).toBeLessThan(1e-3);
  });
  it("i32 ↔ f32", async () => {
    const x = T.tensor(ctx.dev, Int32Array.from([-3, 0, 7]), [3]);
    expect(Array.from(await T.cast(x, "f32").data())).toEqual([-3, 0, 7]);
    expect(Array.from(await T.cast(T.tensor(ctx.dev, [1.4, -2.6, 3.5], [3]), "i32").data())).toEqual([1, -3, 4]);
  });
});
