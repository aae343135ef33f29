import { Device, cast, noGrad, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HostTensor, Linear, StateDictError, f32ArrayToF16 } from "../src/index.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create();
});
afterAll(() => dev?.destroy());

const W = Float32Array.from([0.5, -1.25, 3, 0.125, -2, 1]);
const B = Float32Array.from([0.25, -0.5]);

describe("loadStateDict dtypes", () => {
  it("refuses integer-labelled data for a float parameter, naming the tensor and both dtypes", async () => {
    const lin = new Linear(dev, 3, 2);
    const before = Float32Array.from((await lin.weight.data()) as Float32Array);
    // F32 bytes labelled I32: converting them "by value" would load the float bit patterns as huge numbers.
    const relabelled: HostTensor = { dtype: "I32", shape: [2, 3], data: new Int32Array(W.buffer.slice(0)) };
    let err: unknown;
    try {
      lin.loadStateDict({ weight: relabelled, bias: { dtype: "F32", shape: [2], data: B } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    expect((err as Error).message).toMatch(
      /weight is stored as I32, but the model's f32 tensor needs F32\/F16\/BF16\/F64/,
    );
    // Nothing was loaded.
    expect(Array.from((await lin.weight.data()) as Float32Array)).toEqual(Array.from(before));
    lin.dispose();
  });

  it("widens F16 weights by value (an explicit, exact conversion)", async () => {
    const lin = new Linear(dev, 3, 2);
    lin.loadStateDict({
      weight: { dtype: "F16", shape: [2, 3], data: f32ArrayToF16(W) },
      bias: { dtype: "F32", shape: [2], data: B },
    });
    // Every value of W is exact in f16.
    expect(Array.from((await lin.weight.data()) as Float32Array)).toEqual(Array.from(W));
    lin.dispose();
  });

  it("refuses a device tensor of another dtype (device tensors are copied byte for byte)", () => {
    const lin = new Linear(dev, 3, 2);
    const w16 = noGrad(() => cast(tensor(dev, W, [2, 3]), "bf16"));
    expect(() => lin.loadStateDict({ weight: w16, bias: tensor(dev, B, [2]) })).toThrow(
      /weight is a bf16 tensor, the model's is f32/,
    );
    w16.dispose();
    lin.dispose();
  });
});
