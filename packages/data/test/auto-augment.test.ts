import { describe, expect, it } from "vitest";
import type { Image } from "../src/image.js";
import { Rng } from "../src/rng.js";
import { affine, rotate } from "../src/transforms/affine.js";
import {
  IMAGENET_POLICY,
  applyOp,
  augmentationSpace,
  autoAugmentImage,
  randAugmentImage,
} from "../src/transforms/auto-augment.js";
import { equalize, invert, posterize } from "../src/transforms/color.js";
import { randAugment } from "../src/transforms/spec.js";

const seq = (w: number, h: number): Image => ({
  data: Uint8Array.from({ length: w * h }, (_, i) => i + 1),
  width: w,
  height: h,
  channels: 1,
});
const at = (img: Image, x: number, y: number) => img.data[y * img.width + x]!;

describe("geometric operations (NEAREST, PIL pixel-centre sampling)", () => {
  it("rotate 90° is a counter-clockwise quarter turn", () => {
    const img = seq(3, 3); // [[1,2,3],[4,5,6],[7,8,9]]
    expect(Array.from(rotate(img, 90).data)).toEqual([3, 6, 9, 2, 5, 8, 1, 4, 7]);
  });

  it("rotate 180° reverses the pixel order", () => {
    const img = seq(4, 3);
    expect(Array.from(rotate(img, 180).data)).toEqual(Array.from(img.data).reverse());
  });

  it("ShearX with magnitude 0.5 shifts row y by floor(x + 0.75 + 0.5·y)", () => {
    const img = seq(6, 4);
    const out = applyOp(img, "ShearX", 0.5);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 6; x++) {
        const sx = Math.floor(x + 0.75 + 0.5 * y);
        expect(at(out, x, y)).toBe(sx < 6 ? at(img, sx, y) : 0);
      }
    }
  });

  it("TranslateX/Y move content by the truncated magnitude, filling zeros", () => {
    const img = seq(5, 4);
    const tx = applyOp(img, "TranslateX", 2.9);
    const ty = applyOp(img, "TranslateY", -1.2);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 5; x++) {
        expect(at(tx, x, y)).toBe(x >= 2 ? at(img, x - 2, y) : 0);
        expect(at(ty, x, y)).toBe(y <= 2 ? at(img, x, y + 1) : 0);
      }
    }
  });

  it("affine identity leaves the image unchanged", () => {
    const img = seq(7, 5);
    expect(affine(img, {}).data).toEqual(img.data);
  });
});

describe("AutoAugment (ImageNet policy)", () => {
  it("has torchvision's 25 sub-policies", () => {
    expect(IMAGENET_POLICY).toHaveLength(25);
    expect(IMAGENET_POLICY[0]).toEqual([
      ["Posterize", 0.4, 8],
      ["Rotate", 0.6, 9],
    ]);
    expect(IMAGENET_POLICY[13]).toEqual([
      ["Invert", 0.6, null],
      ["Equalize", 1.0, null],
    ]);
  });

  it("uses torchvision's magnitude bins", () => {
    const s = augmentationSpace(10, 331, 331);
    expect(s.Posterize.magnitudes).toEqual([8, 8, 7, 7, 6, 6, 5, 5, 4, 4]);
    expect(s.Rotate.magnitudes![9]).toBeCloseTo(30);
    expect(s.TranslateX.magnitudes![9]).toBeCloseTo(150);
    expect(s.Solarize.magnitudes![0]).toBe(255);
    expect(s.Solarize.magnitudes![9]).toBe(0);
    expect(augmentationSpace(31, 10, 10).ShearX.magnitudes![9]).toBeCloseTo(0.09);
  });

  it("applies each op of the drawn sub-policy when its probability passes, with sign 0 negating", () => {
    const r = new Rng(2);
    const img: Image = {
      data: Uint8Array.from({ length: 12 * 10 * 3 }, () => r.int(256)),
      width: 12,
      height: 10,
      channels: 3,
    };
    // Sub-policy 13: Invert (p 0.6) then Equalize (p 1.0).
    expect(autoAugmentImage(img, { policy: 13, probs: [0.5, 0.9], signs: [1, 1] }).data).toEqual(
      equalize(invert(img)).data,
    );
    expect(autoAugmentImage(img, { policy: 13, probs: [0.7, 0.9], signs: [1, 1] }).data).toEqual(
      equalize(img).data,
    );
    // Sub-policy 0: Posterize bin 8 (4 bits, p 0.4) then Rotate bin 9 (30°, p 0.6); sign 0 → −30°.
    expect(autoAugmentImage(img, { policy: 0, probs: [0.1, 0.2], signs: [1, 0] }).data).toEqual(
      rotate(posterize(img, 4), -30).data,
    );
    expect(autoAugmentImage(img, { policy: 0, probs: [0.1, 0.2], signs: [1, 1] }).data).toEqual(
      rotate(posterize(img, 4), 30).data,
    );
  });
});

describe("RandAugment", () => {
  it("validates the magnitude bin", () => {
    expect(() => randAugment({ magnitude: 31 })).toThrow(/magnitude/);
    expect(randAugment()).toEqual({
      op: "randAugment",
      numOps: 2,
      magnitude: 9,
      numMagnitudeBins: 31,
      fill: 0,
    });
  });

  it("is deterministic per rng, changes the image, and numOps 0 is the identity", () => {
    const r = new Rng(3);
    const img: Image = {
      data: Uint8Array.from({ length: 16 * 16 * 3 }, () => r.int(256)),
      width: 16,
      height: 16,
      channels: 3,
    };
    const opts = { numOps: 2, magnitude: 9, numMagnitudeBins: 31 };
    const a = randAugmentImage(img, new Rng(5), opts);
    expect(randAugmentImage(img, new Rng(5), opts).data).toEqual(a.data);
    let changed = 0;
    for (let s = 0; s < 20; s++)
      if (!equal(randAugmentImage(img, new Rng(s), opts).data, img.data)) changed++;
    expect(changed).toBeGreaterThan(10);
    expect(randAugmentImage(img, new Rng(5), { ...opts, numOps: 0 }).data).toEqual(img.data);
  });
});

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
