/**
 * Issue 12: config input that used to slip through. `__proto__` / `constructor` / `prototype` keys (in an
 * override or in the YAML) must not reach Object.prototype, and non-finite numbers (YAML's .inf / .nan)
 * must be refused wherever numbers are expected.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/index.js";

const YAML = `
trainer: { max_steps: 2 }
model:
  preset: tiny
  optim: { lr: 0.001 }
`;

function file(text: string): string {
  const p = join(mkdtempSync(join(tmpdir(), "vit-cfg-")), "c.yaml");
  writeFileSync(p, text);
  return p;
}

const proto = Object.prototype as unknown as Record<string, unknown>;
afterEach(() => {
  // Clean up after a failing (polluting) run so that one failure does not cascade.
  Reflect.deleteProperty(proto, "polluted");
  Reflect.deleteProperty(proto, "lr");
});

describe("keys that name object internals", () => {
  it.each([
    "__proto__.polluted=1",
    "model.__proto__.polluted=1",
    "model.optim.__proto__.polluted=1",
    "constructor.prototype.polluted=1",
    "model.constructor.prototype.polluted=1",
  ])("override %s is refused and Object.prototype stays clean", (o) => {
    let err: unknown;
    try {
      loadConfig(file(YAML), [o]);
    } catch (e) {
      err = e;
    }
    // The old code assigned through __proto__ / constructor.prototype: every object gained `polluted`.
    expect(proto.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/the key "(__proto__|constructor)" is not allowed in a config/);
  });

  it("an override value that is a mapping with __proto__ is refused", () => {
    expect(() => loadConfig(file(YAML), ["model.data={__proto__: {polluted: 1}}"])).toThrow(
      'the key "__proto__" is not allowed',
    );
    expect(proto.polluted).toBeUndefined();
  });

  it.each([
    ["top level", `__proto__:\n  polluted: 1\n${YAML}`],
    ["model section", YAML.replace("preset: tiny", "preset: tiny\n  __proto__: { lr: 5 }")],
    ["optim section", YAML.replace("{ lr: 0.001 }", "{ lr: 0.001, constructor: 1 }")],
  ])("a YAML key __proto__ / constructor (%s) is refused by name", (_where, text) => {
    expect(() => loadConfig(file(text))).toThrow(
      /the key "(__proto__|constructor)" is not allowed in a config/,
    );
    expect(proto.polluted).toBeUndefined();
    expect(proto.lr).toBeUndefined();
  });
});

describe("non-finite and negative numbers", () => {
  it.each([
    ["model.optim.lr=.inf", "model.optim.lr: Infinity is not a finite number"],
    ["model.optim.lr=-.inf", "model.optim.lr: -Infinity is not a finite number"],
    ["model.optim.lr=.nan", "model.optim.lr: NaN is not a finite number"],
    ["model.optim.lr=-0.1", "model.optim.lr: Number must be greater than 0"],
    ["trainer.gradient_clip_val=.inf", "trainer.gradient_clip_val: Infinity is not a finite number"],
    ["model.optim.weight_decay=.inf", "model.optim.weight_decay: Infinity is not a finite number"],
    ["model.optim.betas=[0.9, .nan]", "model.optim.betas[1]: NaN is not a finite number"],
    ["model.init_method_std=.inf", "model.init_method_std: Infinity is not a finite number"],
    ["trainer.max_time_seconds=.inf", "trainer.max_time_seconds: Infinity is not a finite number"],
  ])("%s is refused", (o, msg) => {
    expect(() => loadConfig(file(YAML), [o])).toThrow(ConfigError);
    expect(() => loadConfig(file(YAML), [o])).toThrow(msg);
  });

  it("in the YAML file too", () => {
    expect(() => loadConfig(file(YAML.replace("lr: 0.001", "lr: .inf")))).toThrow(
      "model.optim.lr: Infinity is not a finite number; give a finite value.",
    );
  });
});
