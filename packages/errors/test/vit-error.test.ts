import { describe, expect, it, vi } from "vitest";
import { VitError } from "../src/index.js";

class FileProblem extends VitError {}

describe("VitError", () => {
  it("ends the message with the hint and keeps hint, where and cause", () => {
    const cause = new Error("EISDIR");
    const e = new FileProblem("runs/x is a directory.", {
      hint: "pass a .safetensors file",
      where: "runs/x",
      cause,
    });
    expect(e.message).toBe("runs/x is a directory (fix: pass a .safetensors file)");
    expect([e.hint, e.where, e.cause]).toEqual(["pass a .safetensors file", "runs/x", cause]);
    expect(e.name).toBe("FileProblem");
    expect(String(e.stack).split("\n")[0]).toBe(`FileProblem: ${e.message}`);
    expect(new VitError("plain.").message).toBe("plain.");
    class Renamed extends VitError {
      constructor() {
        super("x");
        this.name = "Custom";
      }
    }
    expect(new Renamed().name).toBe("Custom");
  });

  it("instanceof: subclasses by prototype, the base also across copies of the package", async () => {
    const e = new FileProblem("x");
    expect(e).toBeInstanceOf(VitError);
    expect(e).toBeInstanceOf(FileProblem);
    expect(new VitError("x")).not.toBeInstanceOf(FileProblem);
    expect(new Error("x")).not.toBeInstanceOf(VitError);
    expect(null).not.toBeInstanceOf(VitError);
    // A second module instance: a different class object, as with two installed versions.
    vi.resetModules();
    const copy = (await import("../src/vit-error.js")) as typeof import("../src/vit-error.js");
    expect(copy.VitError).not.toBe(VitError);
    expect(e instanceof copy.VitError).toBe(true);
    expect(new copy.VitError("y") instanceof VitError).toBe(true);
    class Other extends copy.VitError {}
    expect(new Other("z") instanceof FileProblem).toBe(false);
    // Rebuilt from a prototype (as @vit/data does for errors posted by workers): still branded and named.
    const rebuilt = Object.create(FileProblem.prototype) as FileProblem;
    expect(rebuilt instanceof VitError && rebuilt.name).toBe("FileProblem");
  });
});
