/**
 * backwardAsync is @vit/tensor's backward with awaited collective nodes: on an ordinary graph it gives
 * the same gradients (bit for bit), accumulates across calls, and frees what backward() frees.
 */
import { Device, crossEntropy, scope, tensor } from "@vit/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backwardAsync } from "../src/index.js";
import { TinyNet, gradsOf, hostRandom, tinyNet } from "./helpers.js";

let dev: Device;
beforeAll(async () => {
  dev = await Device.create({ seed: 8 });
});
afterAll(() => dev?.destroy());

describe("backwardAsync", () => {
  it("equals backward() on a transformer, accumulates over two calls, and leaves no tensors behind", async () => {
    const model = new TinyNet(dev, tinyNet({ hidden_dropout: 0.1, attention_dropout: 0.1 }));
    const x = tensor(dev, hostRandom(4 * 3 * 8 * 8, 1), [4, 3, 8, 8]);
    const y = tensor(dev, Int32Array.from([0, 1, 2, 3]), [4]);
    const zero = () =>
      model.parameters().forEach((p) => {
        p.grad?.dispose();
        p.grad = null;
      });
    const once = async (useAsync: boolean) => {
      dev.rng.offset = 10;
      if (useAsync) {
        await scope(async () => {
          await backwardAsync(crossEntropy(model.forward(x), y));
        });
      } else scope(() => crossEntropy(model.forward(x), y).backward());
    };
    await once(false);
    await once(false);
    const sync = await gradsOf(model);
    zero();
    const live = dev.liveTensors;
    await once(true);
    await once(true);
    const asyncGrads = await gradsOf(model);
    expect(dev.liveTensors - live).toBe(model.parameters().length); // just the gradients
    for (const [n, g] of Object.entries(sync)) expect(Array.from(asyncGrads[n]!), n).toEqual(Array.from(g));
    zero();
    model.dispose();
  });
});
