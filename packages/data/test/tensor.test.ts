import { describe, expect, it } from "vitest";
import { bf16ArrayToF32 as fromBfloat16, f32ArrayToBf16 as toBfloat16 } from "@vit/half";
import type { Image } from "../src/image.js";
import { Rng } from "../src/rng.js";
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from "../src/sources/fashion-mnist.js";
import { tensorLuts, writeChw } from "../src/transforms/pipeline.js";
import { IMAGENET_MEAN, IMAGENET_STD, normalize } from "../src/transforms/spec.js";

describe("ToTensor + Normalize", () => {
  it("writes HWC bytes as CHW floats (x/255 − mean)/std with ImageNet defaults", () => {
    const img: Image = { data: Uint8Array.from([0, 128, 255, 10, 20, 30]), width: 2, height: 1, channels: 3 };
    const n = normalize();
    expect(n).toEqual({ op: "normalize", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    const out = new Float32Array(6);
    writeChw(img, tensorLuts(3, { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] }), out, 0);
    // CHW: channel 0 = pixels' R values (0, 10), channel 1 = G (128, 20), channel 2 = B (255, 30).
    const ref = [
      (0 / 255 - 0.485) / 0.229,
      (10 / 255 - 0.485) / 0.229,
      (128 / 255 - 0.456) / 0.224,
      (20 / 255 - 0.456) / 0.224,
      (255 / 255 - 0.406) / 0.225,
      (30 / 255 - 0.406) / 0.225,
    ];
    for (let i = 0; i < 6; i++) expect(out[i]).toBeCloseTo(ref[i]!, 6);
  });

  it("uses Fashion-MNIST statistics 0.2860 / 0.3530 for one channel and plain x/255 without normalize", () => {
    expect(FASHION_MNIST_MEAN).toEqual([0.286]);
    expect(FASHION_MNIST_STD).toEqual([0.353]);
    const img: Image = { data: Uint8Array.from([0, 255]), width: 2, height: 1, channels: 1 };
    const out = new Float32Array(2);
    writeChw(img, tensorLuts(1, { mean: [0.286], std: [0.353] }), out, 0);
    expect(out[0]).toBeCloseTo(-0.286 / 0.353, 6);
    expect(out[1]).toBeCloseTo((1 - 0.286) / 0.353, 6);
    writeChw(img, tensorLuts(1, null), out, 0);
    expect(Array.from(out)).toEqual([0, 1]);
  });

  it("rejects 3-channel statistics on 1-channel images with a fix", () => {
    expect(() => tensorLuts(1, { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] })).toThrow(/channels: 3/);
  });
});

/** Independent bf16 rounding: pick the nearer of the two neighbouring bf16 values; ties go to the even one. */
function referenceBf16(x: number): number {
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0]!;
  const lo = bits >>> 16;
  const hi = lo + 1;
  const asFloat = (b: number) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!;
  const dlo = Math.abs(f[0]! - asFloat(lo));
  const dhi = Math.abs(asFloat(hi) - f[0]!);
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return lo % 2 === 0 ? lo : hi;
}

describe("bfloat16", () => {
  it("rounds to nearest, ties to even", () => {
    const tieDown = 1 + 2 ** -8; // halfway between 1 (0x3f80, even) and 1 + 2^-7 (0x3f81)
    const tieUp = 1 + 3 * 2 ** -8; // halfway between 0x3f81 (odd) and 0x3f82 (even)
    expect(Array.from(toBfloat16(new Float32Array([1, tieDown, tieUp, -2, 0])))).toEqual([
      0x3f80, 0x3f80, 0x3f82, 0xc000, 0,
    ]);
  });

  it("matches the reference on random values across magnitudes", () => {
    const r = new Rng(8);
    const xs = new Float32Array(20_000);
    for (let i = 0; i < xs.length; i++) xs[i] = (r.next() - 0.5) * 2 ** (r.int(60) - 30);
    const got = toBfloat16(xs);
    let mismatches = 0;
    for (let i = 0; i < xs.length; i++) if (got[i] !== referenceBf16(xs[i]!)) mismatches++;
    expect(mismatches).toBe(0);
  });

  it("keeps infinities and NaN", () => {
    const out = fromBfloat16(
      toBfloat16(new Float32Array([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 3.4e38])),
    );
    expect(out[0]).toBe(Number.POSITIVE_INFINITY);
    expect(out[1]).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(out[2])).toBe(true);
    expect(out[3]).toBe(Number.POSITIVE_INFINITY); // 3.4e38 rounds past the largest bf16
  });
});
