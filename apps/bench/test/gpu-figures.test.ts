import { describe, expect, it } from "vitest";
import { mfu, vitForwardFlopsPerImage, vitTrainFlopsPerImage } from "../src/model-flops.js";
import { lookupPeak } from "../src/peak-flops.js";
import { stepConfig } from "../src/step-runner.js";

describe("model FLOPs of a ViT", () => {
  // Published forward multiply-adds at 224² (timm's model table; DeiT-B's "17.6 GFLOPs" is the same count).
  it.each([
    ["B/16", 17.58e9],
    ["L/16", 61.6e9],
  ])("%s forward: the published %d multiply-adds per image (within 0.5%%)", (preset, macs) => {
    const got = vitForwardFlopsPerImage(stepConfig(preset)) / 2;
    expect(Math.abs(got / macs - 1)).toBeLessThan(0.005);
  });

  it("a training step is forward + backward = 3 × forward", () => {
    const c = stepConfig("B/16");
    expect(vitTrainFlopsPerImage(c)).toBe(3 * vitForwardFlopsPerImage(c));
  });

  it("MFU is achieved model FLOP/s over the peak", () => {
    // 1e12 FLOPs per image at 67 images/s on a 67 TFLOP/s part: the whole peak.
    expect(mfu(1e12, 67, 67)).toBeCloseTo(1, 12);
    expect(mfu(105e9, 1000, 989)).toBeCloseTo(105e12 / 989e12, 12);
  });
});

describe("peak FLOP/s table", () => {
  it("finds the H200 and H100 parts from the adapter's device name or description", () => {
    const h200 = lookupPeak("nvidia-h200 NVIDIA H200");
    expect(h200).toEqual({ gpu: "H200 SXM", tflops: { f32: 67, tf32: 495, bf16: 989, f16: 989 } });
    expect(lookupPeak("NVIDIA H100 80GB HBM3 570.86")).toMatchObject({ gpu: "H100 SXM" });
    expect(lookupPeak("nvidia-h100-pcie NVIDIA H100 PCIe")).toMatchObject({
      gpu: "H100 PCIe",
      tflops: { f32: 51 },
    });
    expect(lookupPeak("NVIDIA H200 NVL")).toMatchObject({ gpu: "H200 NVL", tflops: { bf16: 835 } });
  });

  it("gives a reason for an unknown adapter, and takes peak_tflops instead", () => {
    const r = lookupPeak("llvmpipe: Mesa 25.0.7");
    expect("reason" in r && r.reason).toMatch(
      /no peak FLOP\/s known for "llvmpipe: Mesa 25.0.7".*peak_tflops/,
    );
    expect(lookupPeak("llvmpipe", "2")).toEqual({
      gpu: "peak_tflops=2",
      tflops: { f32: 2, tf32: 2, bf16: 2, f16: 2 },
    });
    expect(lookupPeak("llvmpipe", "f32:1.5,bf16:3")).toMatchObject({ tflops: { f32: 1.5, bf16: 3 } });
    expect(() => lookupPeak("llvmpipe", "fp8:3")).toThrow(/^peak_tflops=fp8:3: give one number/);
  });
});
