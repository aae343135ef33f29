/**
 * User mistakes print exactly one line on stderr — `vit: <what> (fix: <how>)` — and exit 1, without a stack;
 * a bug in vit (anything that is not a VitError) prints its stack. Runs the built binary as a user would.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { saveSafetensors } from "@vit/nn";
import { beforeAll, describe, expect, it } from "vitest";
import { type VitRun, stderrLines, vit } from "./helpers.js";

const CONFIG = `
name: errors
trainer: { max_steps: 1, seed: 1 }
model:
  img_h: 8
  img_w: 8
  num_channels: 1
  patch_dim: 4
  hidden_size: 8
  ffn_hidden_size: 16
  num_attention_heads: 2
  num_layers: 1
  num_classes: 2
  micro_batch_size: 2
  optim: { name: adamw, lr: 0.001 }
  data: { dataset: synthetic, synthetic_size: 4 }
exp_manager: { exp_dir: runs, name: errors }
`;

let dir: string;

/** The run failed with exit 1 and exactly one stderr line, no stack frame; returns that line. */
function oneLine(r: VitRun): string {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const lines = stderrLines(r);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^vit: .+ \(fix: .+\)$/);
  return lines[0]!;
}

describe("vit errors", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vit-errors-"));
    writeFileSync(join(dir, "errors.yaml"), CONFIG);
    mkdirSync(join(dir, "a-folder"));
    const w = { dtype: "F32" as const, shape: [2], data: new Float32Array([1, 2]) };
    // A safetensors file whose header length runs past its end, and a valid one whose vit metadata is broken.
    writeFileSync(join(dir, "bad-header.safetensors"), Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]));
    await saveSafetensors(
      join(dir, "bad-meta.safetensors"),
      { "model.w": w },
      { vit: '{"step": 3, "config":' },
    );
  });

  it("a missing checkpoint or input file names the path", async () => {
    const convert = oneLine(
      await vit(["convert", "missing.safetensors", "out.safetensors", "--to", "timm"], dir),
    );
    expect(convert).toMatch(/^vit: no such file or directory: missing\.safetensors \(fix: check the path/);
    const evaluate = oneLine(await vit(["eval", "--checkpoint", "missing.safetensors"], dir));
    expect(evaluate).toMatch(/^vit: checkpoint missing\.safetensors does not exist \(fix: /);
  });

  it("a directory passed as a file names the directory", async () => {
    const line = oneLine(await vit(["convert", "a-folder", "out.safetensors", "--to", "timm"], dir));
    expect(line).toMatch(
      /^vit: a-folder: a directory, not a safetensors file \(fix: pass the \.safetensors file/,
    );
  });

  it("a bad --to lists the formats", async () => {
    const line = oneLine(await vit(["convert", "a.safetensors", "b.safetensors", "--to", "onnx"], dir));
    expect(line).toMatch(/--to onnx \(fix: pass --to timm, hf, nemo or vit\)$/);
  });

  it("a tensor-parallel size the ranks cannot hold is refused with the launch command", async () => {
    const r = await vit(["train", "--config", "errors.yaml", "model.tensor_model_parallel_size=2"], dir);
    const line = oneLine(r);
    expect(line).toMatch(/tensor_model_parallel_size=2 needs a multiple of 2 ranks/);
    expect(line).toMatch(/\(fix: launch e\.g\. `vit launch --nproc 2 -- train \.\.\. trainer\.devices=2`\)$/);
  });

  it("malformed checkpoint files and metadata name the file", async () => {
    const header = oneLine(await vit(["eval", "--checkpoint", "bad-header.safetensors"], dir));
    expect(header).toMatch(/^vit: bad-header\.safetensors: header length 255 runs past the end of the file/);
    const meta = oneLine(await vit(["eval", "--checkpoint", "bad-meta.safetensors"], dir));
    expect(meta).toMatch(/^vit: bad-meta\.safetensors: its "vit" metadata is not a vit checkpoint's/);
  });

  it("VIT_DEBUG=1 adds the stack to a user error; a bug always shows its stack", async () => {
    const debug = await vit(["convert", "a.safetensors", "b.safetensors", "--to", "onnx"], dir, {
      env: { ...process.env, VIT_DEBUG: "1" },
    });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^vit: vit convert: unknown weight format --to onnx/);
    expect(debug.stderr).toMatch(/^\s+at .*convert/m);

    // A bug, planted: JSON.stringify throws a TypeError where `vit model --json` prints its result.
    const plant = join(dir, "plant-bug.mjs");
    writeFileSync(plant, 'JSON.stringify = () => { throw new TypeError("planted bug"); };\n');
    for (const env of [process.env, { ...process.env, VIT_DEBUG: "1" }]) {
      const bug = await vit(["model", "--preset", "tiny", "--json"], dir, {
        env,
        nodeArgs: ["--import", plant],
      });
      expect(bug.code).toBe(1);
      expect(bug.stderr).toMatch(/^vit: internal error \(a bug in vit/);
      expect(bug.stderr).toMatch(/^TypeError: planted bug\n\s+at /m);
    }
  });
});
