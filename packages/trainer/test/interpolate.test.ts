/**
 * OmegaConf interpolation as NeMo's configs use it: absolute and relative key paths, nested resolver
 * calls, text splicing, `???` for values the user must give, and cycles.
 */
import { describe, expect, it } from "vitest";
import { InterpolationError, resolveInterpolations } from "../src/index.js";

describe("resolveInterpolations", () => {
  it("absolute paths keep the referenced value's type; list indices both ways", () => {
    const r = resolveInterpolations({
      trainer: { precision: 16, devices: 2, dirs: ["a", "b"] },
      model: { precision: "${trainer.precision}", first: "${trainer.dirs.0}", second: "${trainer.dirs[1]}" },
    });
    expect(r.model).toEqual({ precision: 16, first: "a", second: "b" });
  });

  it("relative paths: one dot is the holding mapping, each further dot one level up", () => {
    const r = resolveInterpolations({
      name: "top",
      model: {
        encoder_seq_length: 196,
        max_position_embeddings: "${.encoder_seq_length}",
        data: { seq: "${..encoder_seq_length}", run: "${...name}" },
      },
    });
    expect(r.model.max_position_embeddings).toBe(196);
    expect(r.model.data).toEqual({ seq: 196, run: "top" });
  });

  it("NeMo's nested resolver call, chained references, text splicing and escapes", () => {
    const r = resolveInterpolations({
      model: {
        tensor_model_parallel_size: 2,
        pipeline_model_parallel_size: 3,
        tp: "${.tensor_model_parallel_size}",
      },
      exp_manager: {
        checkpoint_callback_params: {
          model_parallel_size: "${multiply:${model.tp}, ${model.pipeline_model_parallel_size}}",
        },
        half: "${int_div:7, 2}",
        sum: "${add:1, 2, ${model.tp}}",
        diff: "${subtract:${model.tp}, 5}",
        off: "${not:true}",
        name: "run_${model.tp}x${model.pipeline_model_parallel_size}",
        literal: "cost \\${not_a_ref}",
      },
    });
    const e = r.exp_manager;
    expect(e.checkpoint_callback_params.model_parallel_size).toBe(6);
    expect([e.half, e.sum, e.diff, e.off]).toEqual([3, 5, -3, false]);
    expect(e.name).toBe("run_2x3");
    expect(e.literal).toBe("cost ${not_a_ref}");
  });

  it("a section can be referenced whole", () => {
    const r = resolveInterpolations({ a: { x: 1, y: "${.x}" }, b: "${a}" });
    expect(r.b).toEqual({ x: 1, y: 1 });
  });

  it("??? left unset is an error naming every such key and the fix", () => {
    const cfg = { model: { data: { data_path: "???" }, other: "???" } };
    expect(() => resolveInterpolations(cfg)).toThrow(InterpolationError);
    expect(() => resolveInterpolations(cfg)).toThrow(
      "model.data.data_path, model.other are ??? (a value you must give): add model.data.data_path=<value> model.other=<value> to the command line",
    );
    // Referring to it names both keys.
    expect(() => resolveInterpolations({ a: "???", b: "${a}" })).toThrow("b refers to a, which is ???");
  });

  it("cycles, missing keys, unknown resolvers and bad arguments are one-line errors naming the key", () => {
    expect(() => resolveInterpolations({ a: "${b}", b: { c: "${a}" } })).toThrow(
      "interpolation cycle: a → b.c → a",
    );
    expect(() => resolveInterpolations({ a: "${.a}" })).toThrow("interpolation cycle: a → a");
    expect(() => resolveInterpolations({ m: { x: "${model.nope}" } })).toThrow(
      "m.x: the interpolation refers to model.nope, but model does not exist",
    );
    expect(() => resolveInterpolations({ x: "${pow:2, 3}" })).toThrow('x: unknown resolver "pow"');
    expect(() => resolveInterpolations({ x: "${multiply:2, abc}" })).toThrow(
      'x: ${multiply:...}: arguments must be numbers, got "abc"',
    );
    expect(() => resolveInterpolations({ x: "${multiply:2}" })).toThrow("takes 2 argument(s), got 1");
    expect(() => resolveInterpolations({ x: "${a" })).toThrow("x: cannot parse");
    // Own keys only: nothing reaches Object.prototype.
    expect(() => resolveInterpolations({ x: "${toString}" })).toThrow("toString does not exist");
  });

  it("leaves the input untouched", () => {
    const cfg = { a: 1, b: "${a}" };
    resolveInterpolations(cfg);
    expect(cfg).toEqual({ a: 1, b: "${a}" });
  });
});
