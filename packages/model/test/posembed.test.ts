import { type HostTensorOf, openSafetensors } from "@vit/nn";
import { describe, expect, it } from "vitest";
import { type PosEmbedResampleMode, resampleGrid, resamplePosEmbed } from "../src/index.js";
import { POSEMBED_CASES, fixturePath, relErr } from "./pytorch-fixtures.js";

const grid = (s: string) => s.split("x").map(Number) as [number, number];

describe("PyTorch F.interpolate fixtures", () => {
  // timm's bicubic (antialias off) and NeMo's bilinear, square and rectangular, 1 or 8 prefix tokens.
  it.each(POSEMBED_CASES)("%s: grid resampled as PyTorch does, prefix tokens kept", async (name) => {
    const f = await openSafetensors(fixturePath("posembed", `${name}.safetensors`));
    const pos = (await f.readAsF32("pos_embed")) as HostTensorOf<"F32">;
    const want = await f.readAsF32("resampled");
    const meta = f.metadata;
    await f.close();
    const T = Number(meta.num_prefix_tokens);
    const got = resamplePosEmbed(pos, {
      numPrefixTokens: T,
      oldGrid: grid(meta.old_grid!),
      newGrid: grid(meta.new_grid!),
      mode: meta.mode as PosEmbedResampleMode,
    });
    expect(got.shape).toEqual(want.shape);
    expect(relErr(got.data, want.data)).toBeLessThan(1e-5);
    const D = pos.shape[2]!;
    expect(Array.from(got.data.subarray(0, T * D))).toEqual(Array.from(pos.data.subarray(0, T * D)));
  });

  it("infers the square grid when oldGrid is omitted (4x4 → 6x6, bicubic by default)", async () => {
    const f = await openSafetensors(fixturePath("posembed", "posembed-4x4-to-6x6.safetensors"));
    const pos = (await f.readAsF32("pos_embed")) as HostTensorOf<"F32">;
    const want = await f.readAsF32("resampled");
    expect(f.metadata.method).toMatch(/bicubic/);
    await f.close();
    const got = resamplePosEmbed(pos, { numPrefixTokens: 1, newGrid: [6, 6] });
    expect(relErr(got.data, want.data)).toBeLessThan(1e-5);
  });
});

describe("bicubic (timm)", () => {
  it("uses Keys' cubic weights with A = −0.75 (hand-computed) and reproduces constants", () => {
    const g = new Float32Array(16).map((_, i) => 2 * (i % 4) + 1); // rows of 1, 3, 5, 7
    const out = resampleGrid(g, [4, 4], [8, 8], 1, "bicubic");
    // Output x = 3 reads source x = (3 + 0.5)·4/8 − 0.5 = 1.25: taps 0..3 at t = 0.25 with weights
    // W(1.25), W(0.25), W(0.75), W(1.75) for A = −0.75 (not A = −0.5, so a ramp is not reproduced).
    const w = [-0.10546875, 0.87890625, 0.26171875, -0.03515625];
    const want = w[0]! * 1 + w[1]! * 3 + w[2]! * 5 + w[3]! * 7; // 3.59375
    for (let y = 0; y < 8; y++) expect(out[y * 8 + 3]).toBeCloseTo(want, 6);
    // Output x = 0 reads −0.25: taps −2..1 clamp to 0, 0, 0, 1 (border replication), t = 0.75.
    const w0 = [-0.03515625, 0.26171875, 0.87890625, -0.10546875];
    expect(out[0]).toBeCloseTo((w0[0]! + w0[1]! + w0[2]!) * 1 + w0[3]! * 3, 6);
    const c = resampleGrid(new Float32Array(9).fill(3), [3, 3], [7, 5], 1, "bicubic");
    for (const v of c) expect(v).toBeCloseTo(3, 6);
  });

  it("same grid size returns the input; downsampling and rectangular grids work", () => {
    const pos: HostTensorOf<"F32"> = {
      dtype: "F32",
      shape: [1, 2 + 6, 3],
      data: new Float32Array(24).map((_, i) => i),
    };
    expect(resamplePosEmbed(pos, { numPrefixTokens: 2, oldGrid: [2, 3], newGrid: [2, 3] }).data).toEqual(
      pos.data,
    );
    const out = resamplePosEmbed(pos, { numPrefixTokens: 2, oldGrid: [2, 3], newGrid: [4, 1] });
    expect(out.shape).toEqual([1, 6, 3]);
    expect(() => resamplePosEmbed(pos, { numPrefixTokens: 2, newGrid: [4, 4] })).toThrow(
      /not a square \(fix: pass oldGrid/,
    );
  });
});

/** Independent float64 reference: bilinear as a product of 1-D interpolation matrices, Wy · G · Wxᵀ. */
function bilinearMatrix(inSize: number, outSize: number): number[][] {
  return Array.from({ length: outSize }, (_, o) => {
    const row = new Array<number>(inSize).fill(0);
    // Half-pixel centres; positions outside [0, in−1] clamp to the edge sample.
    const x = Math.min(Math.max(((o + 0.5) * inSize) / outSize - 0.5, 0), inSize - 1);
    const lo = Math.floor(x);
    const hi = Math.min(lo + 1, inSize - 1);
    row[lo]! += 1 - (x - lo);
    row[hi]! += x - lo;
    return row;
  });
}

function referenceBilinear(
  g: Float64Array,
  gh: number,
  gw: number,
  nh: number,
  nw: number,
  dim: number,
): Float64Array {
  const wy = bilinearMatrix(gh, nh);
  const wx = bilinearMatrix(gw, nw);
  const out = new Float64Array(nh * nw * dim);
  for (let oy = 0; oy < nh; oy++)
    for (let ox = 0; ox < nw; ox++)
      for (let d = 0; d < dim; d++) {
        let s = 0;
        for (let y = 0; y < gh; y++)
          for (let x = 0; x < gw; x++) s += wy[oy]![y]! * wx[ox]![x]! * g[(y * gw + x) * dim + d]!;
        out[(oy * nw + ox) * dim + d] = s;
      }
  return out;
}

describe("bilinear (NeMo)", () => {
  it("matches a hand computation on 1x2 → 1x4", () => {
    const [a, b] = [1, 5];
    const out = resampleGrid(new Float32Array([a, b]), [1, 2], [1, 4], 1, "bilinear");
    expect(Array.from(out)).toEqual([a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b]);
  });

  it("matches the float64 matrix reference for up/down/rectangular resampling", () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed / 2 ** 31) * 2 - 1;
    };
    for (const [gh, gw, nh, nw] of [
      [4, 4, 6, 6],
      [14, 14, 32, 32],
      [5, 3, 2, 7],
      [6, 6, 4, 4],
    ] as const) {
      const dim = 5;
      const g32 = new Float32Array(gh * gw * dim).map(rand);
      const want = referenceBilinear(Float64Array.from(g32), gh, gw, nh, nw, dim);
      const got = resampleGrid(g32, [gh, gw], [nh, nw], dim, "bilinear");
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-6);
    }
  });

  it("keeps NeMo's 8 class tokens through resamplePosEmbed", () => {
    const T = 8;
    const D = 4;
    const data = new Float32Array((T + 16) * D).map((_, i) => Math.sin(i));
    const out = resamplePosEmbed(
      { dtype: "F32", shape: [1, T + 16, D], data },
      { numPrefixTokens: T, newGrid: [8, 8], mode: "bilinear" },
    );
    expect(out.shape).toEqual([1, T + 64, D]);
    expect(out.data.subarray(0, T * D)).toEqual(data.subarray(0, T * D));
    const ref = referenceBilinear(Float64Array.from(data.subarray(T * D)), 4, 4, 8, 8, D);
    for (let i = 0; i < ref.length; i++) expect(out.data[T * D + i]).toBeCloseTo(ref[i]!, 6);
  });
});
