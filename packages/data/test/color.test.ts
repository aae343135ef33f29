import { describe, expect, it } from "vitest";
import type { Image } from "../src/image.js";
import { Rng } from "../src/rng.js";
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  adjustSharpness,
  autocontrast,
  equalize,
  invert,
  posterize,
  solarize,
} from "../src/transforms/color.js";
import { compilePipeline } from "../src/transforms/pipeline.js";
import { colorJitter } from "../src/transforms/spec.js";

const rgb = (pixels: number[][], width = pixels.length): Image => ({
  data: Uint8Array.from(pixels.flat()),
  width,
  height: pixels.length / width,
  channels: 3,
});
const gray = (values: number[], width = values.length): Image => ({
  data: Uint8Array.from(values),
  width,
  height: values.length / width,
  channels: 1,
});

describe("ImageEnhance-style adjustments", () => {
  it("brightness scales and truncates like PIL (255·0.5 → 127, 3·0.5 → 1) and clips", () => {
    expect(Array.from(adjustBrightness(gray([10, 100, 200, 255, 3]), 0.5).data)).toEqual([
      5, 50, 100, 127, 1,
    ]);
    expect(Array.from(adjustBrightness(gray([10, 100, 200, 255, 3]), 1.3).data)).toEqual([
      13, 130, 255, 255, 3,
    ]);
  });

  it("contrast 0 gives the rounded mean luma everywhere; 1 is the identity", () => {
    const img = rgb([
      [255, 0, 0],
      [0, 0, 255],
    ]);
    // luma(255,0,0) = round(0.299·255) = 76, luma(0,0,255) = 29 → mean 52.5 → int(52.5 + 0.5) = 53.
    expect(Array.from(adjustContrast(img, 0).data)).toEqual([53, 53, 53, 53, 53, 53]);
    expect(adjustContrast(img, 1).data).toEqual(img.data);
  });

  it("saturation 0 is grayscale by ITU-R 601 luma, 1 is the identity, grayscale input untouched", () => {
    const img = rgb([
      [255, 0, 0],
      [0, 255, 0],
      [10, 20, 30],
    ]);
    const expected = [
      [76, 76, 76],
      [150, 150, 150],
      [18, 18, 18],
    ].flat(); // 0.299R + 0.587G + 0.114B rounded
    expect(Array.from(adjustSaturation(img, 0).data)).toEqual(expected);
    expect(adjustSaturation(img, 1).data).toEqual(img.data);
    const g = gray([1, 2, 3]);
    expect(adjustSaturation(g, 0)).toBe(g);
  });

  it("hue rotates colours around the wheel and leaves grays alone", () => {
    const img = rgb([
      [255, 0, 0],
      [128, 128, 128],
    ]);
    expect(Array.from(adjustHue(img, 1 / 3).data)).toEqual([0, 255, 0, 128, 128, 128]);
    expect(Array.from(adjustHue(img, 0.5).data)).toEqual([0, 255, 255, 128, 128, 128]);
    expect(Array.from(adjustHue(img, -1 / 3).data)).toEqual([0, 0, 255, 128, 128, 128]);
  });

  it("sharpness 0 is PIL's SMOOTH filter (rounded, border kept); 1 is the identity", () => {
    const values = new Array(25).fill(0);
    values[12] = 255;
    const img = gray(values, 5);
    const out = adjustSharpness(img, 0);
    // Centre: 5·255/13 = 98.08 → 98; its 8 neighbours: 255/13 = 19.6 → 20; border pixels unchanged (0).
    const expected = new Array(25).fill(0);
    for (const i of [6, 7, 8, 11, 13, 16, 17, 18]) expected[i] = 20;
    expected[12] = 98;
    expect(Array.from(out.data)).toEqual(expected);
    expect(adjustSharpness(img, 1).data).toEqual(img.data);
  });
});

describe("lookup-table operations", () => {
  it("posterize keeps the top bits", () => {
    expect(Array.from(posterize(gray([0b10110111, 255, 15]), 4).data)).toEqual([0b10110000, 0b11110000, 0]);
    expect(Array.from(posterize(gray([0b10110111]), 1).data)).toEqual([0b10000000]);
  });

  it("solarize inverts values at or above the threshold", () => {
    expect(Array.from(solarize(gray([200, 100, 128, 127]), 128).data)).toEqual([55, 100, 127, 127]);
  });

  it("invert", () => {
    expect(Array.from(invert(gray([0, 1, 255])).data)).toEqual([255, 254, 0]);
  });

  it("autocontrast stretches each channel's range to [0, 255] (truncating)", () => {
    const img = rgb([
      [50, 0, 7],
      [100, 10, 7],
      [150, 20, 7],
    ]);
    // R: scale 255/100 → 0, 127.5→127, 255; G: 0, 127.5→127, 255; B: constant → unchanged.
    expect(Array.from(autocontrast(img).data)).toEqual([0, 0, 7, 127, 127, 7, 255, 255, 7]);
  });

  it("equalize spreads a two-level histogram to the extremes and keeps single-level channels", () => {
    // 255 pixels of 10 and 255 of 20: step = (510 − 255) // 255 = 1; lut[10] = 0, lut[20] = 255.
    const img = gray([...new Array(255).fill(10), ...new Array(255).fill(20)], 30);
    const out = equalize(img);
    expect(out.data[0]).toBe(0);
    expect(out.data[509]).toBe(255);
    const flat = gray([9, 9, 9, 9]);
    expect(equalize(flat).data).toEqual(flat.data);
  });
});

describe("colorJitter", () => {
  it("builds torchvision's factor ranges", () => {
    expect(colorJitter({ brightness: 0.4, contrast: 1.5, hue: 0.1 })).toEqual({
      op: "colorJitter",
      brightness: [0.6, 1.4],
      contrast: [0, 2.5],
      saturation: null,
      hue: [-0.1, 0.1],
    });
    expect(() => colorJitter({ hue: 0.7 })).toThrow(/hue/);
  });

  it("is deterministic per rng and varies across seeds", async () => {
    const r = new Rng(0);
    const img: Image = {
      data: Uint8Array.from({ length: 8 * 8 * 3 }, () => r.int(256)),
      width: 8,
      height: 8,
      channels: 3,
    };
    const pipe = await compilePipeline([
      colorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }),
    ]);
    const run = (seed: number) =>
      pipe.steps[0]!.run(img, { rng: new Rng(seed), index: 0, epoch: 0 }) as Image;
    expect(run(1).data).toEqual(run(1).data);
    expect(run(1).data).not.toEqual(run(2).data);
  });

  it("with only brightness equals adjustBrightness at the drawn factor", async () => {
    const img = gray([0, 50, 100, 200]);
    const pipe = await compilePipeline([colorJitter({ brightness: 0.5 })]);
    const out = pipe.steps[0]!.run(img, { rng: new Rng(9), index: 0, epoch: 0 }) as Image;
    // Replay the draws: a permutation of 4, then the brightness factor.
    const rng = new Rng(9);
    rng.permutation(4);
    const f = rng.uniform(0.5, 1.5);
    expect(out.data).toEqual(adjustBrightness(img, f).data);
  });
});
