#!/usr/bin/env node
/**
 * What each README example must print when run from the installed tarballs (called by pack-check.sh):
 *
 *   node pack-check-expect.mjs <name> <stdout file> <stderr file> <run dir> <native: yes|no>
 *
 * The checks hold what the example computes against what it must be (a loss near ln 10 for 10 classes on
 * random weights, a round trip that reproduces the source model, a fit that converges, normalised pixels with
 * mean 0 and std 1, ranks that agree), not against recorded output, so they stay true however the numbers
 * move by rounding. Exits 1 with the reason.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [name, outFile, errFile, runDir, native] = process.argv.slice(2);
const out = readFileSync(outFile, "utf8");
const err = readFileSync(errFile, "utf8");
const lines = out.trim().split("\n");
const fail = (why) => {
  console.error(`pack-check: ${name}: ${why}\n--- stdout ---\n${out}--- stderr ---\n${err}`);
  process.exit(1);
};
const expect = (ok, why) => ok || fail(why);
/** The numbers a line matching `re` captured. */
const numbers = (re, what) => {
  const m = lines.map((l) => re.exec(l)).find(Boolean);
  if (!m) fail(`no line like ${re} (${what})`);
  return m.slice(1).map(Number);
};
const SLOW = /\[@vit\/data\] JPEGs decode through sharp/;

switch (name) {
  case "errors":
    // A subclass is a VitError, keeps its own name, and its message carries the fix on the same line.
    expect(lines[0] === "true ConfigError trainer.devices", "the subclass is not a VitError named ConfigError");
    expect(/^trainer\.devices=3 but 1 rank is running \(fix: launch 3 ranks .*\)$/.test(lines[1] ?? ""), "the message lacks '(fix: ...)'");
    break;
  case "half":
    // 1/3 rounds to the f16 0x3555 = 0.333251953125; a bf16 tie goes to even, 3.4e38 overflows, NaN stays NaN.
    expect(lines[0] === "3555 0.333251953125", "1/3 did not round to the f16 0x3555");
    expect(lines[1] === "3f80 7f80 7fc0 1", "bf16 rounding (tie to even, overflow to Inf, NaN) is off");
    break;
  case "tensor": {
    // Cross-entropy of near-zero logits over 10 classes is ln 10 = 2.3026; dL/dw has 784 × 10 entries.
    const [loss, grads] = numbers(/^(\d+\.\d+) (\d+)$/, "loss and gradient size");
    expect(Math.abs(loss - Math.log(10)) < 0.05, `loss ${loss} is not ≈ ln 10`);
    expect(grads === 7840, `w.grad has ${grads} elements, not 784 × 10`);
    break;
  }
  case "nn":
    expect(lines[0]?.startsWith("[ 2, 17, 64 ] TransformerLayer("), "the output shape is not [2, 17, 64]");
    expect(out.includes("(qkv): Linear(in=64, out=192, bias=true)"), "the module tree lacks the fused qkv");
    expect(existsSync(join(runDir, "layer.safetensors")), "layer.safetensors was not written");
    break;
  case "optim": {
    const m = /^loss ([\d.]+) -> ([\d.]+) -> ([\d.]+) -> ([\d.]+), last grad norm ([\d.]+)$/.exec(
      lines[0] ?? "",
    );
    if (!m) fail("no 'loss a -> b -> c -> d, last grad norm g' line");
    const [first, , , last, norm] = m.slice(1).map(Number);
    // The noise added to the targets has variance 1e-4: a converged fit ends near it.
    expect(last < first / 100 && last < 1e-3, `the fit did not converge: loss ${first} -> ${last}`);
    expect(Number.isFinite(norm), "no gradient norm");
    break;
  }
  case "model": {
    const [cls, p, diff] = numbers(
      /^class (\d+) p=([\d.]+); max \|p - p\(source model\)\| = ([\d.e-]+)$/,
      "class",
    );
    expect(cls >= 0 && cls < 10 && p > 0.1 && p < 1, `class ${cls} with p=${p} is not a 10-class prediction`);
    expect(diff < 1e-6, `the reloaded timm-layout weights give other probabilities (max diff ${diff})`);
    expect(existsSync(join(runDir, "cat.jpg")), "cat.jpg was not written");
    if (native === "yes") expect(!SLOW.test(err), "JPEGs went through sharp although the addon was built");
    break;
  }
  case "parallel": {
    const steps = lines.filter((l) => /^rank 0\/1 step \d+ loss \d+\.\d+$/.test(l));
    // 128 synthetic images in batches of 32 on one rank.
    expect(steps.length === 4, `expected 4 steps of rank 0/1, got ${steps.length}`);
    for (const l of steps) {
      const loss = Number(l.split(" ").pop());
      expect(Math.abs(loss - Math.log(10)) < 0.5, `loss ${loss} is far from ln 10 on random labels`);
    }
    break;
  }
  case "data": {
    const epochs = lines.filter((l) => l.startsWith("epoch "));
    expect(epochs.length === 2, `expected 2 epochs, got ${epochs.length}`);
    for (const l of epochs) {
      const m = /^epoch \d: 60000 images in 235 batches, pixel mean (-?[\d.]+) std ([\d.]+)$/.exec(l);
      if (!m) fail(`'${l}' is not 60000 images in 235 batches`);
      // normalize() with the training split's own statistics: mean 0, std 1 (flips change neither).
      expect(
        Math.abs(Number(m[1])) < 0.01 && Math.abs(Number(m[2]) - 1) < 0.01,
        `pixels not normalised: ${l}`,
      );
    }
    break;
  }
  case "trainer": {
    const records = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const train = records.filter((r) => r.kind === "train");
    const val = records.filter((r) => r.kind === "val");
    expect(train.map((r) => r.step).join() === "5,10", "expected train records at steps 5 and 10");
    expect(
      train.every((r) => r.loss > 0 && r.loss < 2.6),
      "training loss not in (0, 2.6)",
    );
    expect(val.length === 1 && val[0].step === 10, "expected one evaluation, at step 10");
    const [top1, ips, checkpoint] = (lines.at(-1) ?? "").split(" ");
    expect(
      Number(top1) === val[0].val_top1,
      `final top-1 ${top1} is not the evaluation's ${val[0].val_top1}`,
    );
    // 256 test images after 10 steps: better than the 10% of chance.
    expect(Number(top1) > 0.1, `top-1 ${top1} is not above chance`);
    expect(Number(ips) > 0, "no throughput");
    expect(
      /step-0000010\.safetensors$/.test(checkpoint ?? "") && existsSync(checkpoint),
      "no checkpoint file",
    );
    break;
  }
  case "cli":
    expect(lines[0] === "| preset | params (total) | backbone | seq | description |", "no preset table");
    expect(
      /^\| B\/16 \| [\d,]+ \| 85,8\d\d,\d\d\d \| \d+ \|/m.test(out),
      "B/16's backbone is not 85.8M parameters",
    );
    expect(/^\| tiny \|/m.test(out), "no tiny preset");
    break;
  case "cli-info": {
    const info = JSON.parse(lines.at(-1) ?? "{}");
    expect(typeof info.adapter?.backend === "string", "vit info found no adapter");
    if (native === "yes")
      expect(/native box decode/.test(info.jpegDecoder?.name), `JPEG decoder: ${info.jpegDecoder?.name}`);
    else expect(/sharp/.test(info.jpegDecoder?.name), `JPEG decoder: ${info.jpegDecoder?.name}`);
    break;
  }
  default:
    fail("no expectations for this name");
}
