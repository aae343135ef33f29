/**
 * The progress display as a user sees it: `vit train` and `vit eval` run in a real pseudo-terminal (a tmux
 * pane of 80 columns) and the pane's final screen is read back with capture-pane. One live bar, the log
 * lines above it in order, nothing overwritten, nothing cut at the right edge.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { BIN } from "./helpers.js";
const COLS = 80;
// A private tmux server whose socket lives in a temporary folder (not the user's tmux, no leftovers).
const SOCKET = join(mkdtempSync(join(tmpdir(), "vit-tmux-")), "socket");

const CONFIG = `
name: tty
trainer: { max_steps: 8, log_every_n_steps: 4, seed: 3 }
model:
  img_h: 16
  img_w: 16
  num_channels: 3
  patch_dim: 4
  hidden_size: 32
  ffn_hidden_size: 64
  num_attention_heads: 2
  num_layers: 2
  num_classes: 5
  class_token_length: 1
  hidden_dropout: 0.0
  head_type: linear
  micro_batch_size: 16
  optim: { name: adamw, lr: 0.003 }
  data: { dataset: synthetic, synthetic_size: 600 }
exp_manager: { exp_dir: runs, name: tty }
`;

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-S", SOCKET, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

const hasTmux = (() => {
  try {
    execFileSync("tmux", ["-V"]);
    return true;
  } catch {
    return false;
  }
})();

/** Runs `vit args` in a fresh 80-column tmux pane in `cwd`; returns the pane's lines once it has exited. */
async function onScreen(args: string[], cwd: string): Promise<string[]> {
  const session = `s${Math.random().toString(36).slice(2, 8)}`;
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(" ");
  tmux(
    "new-session",
    "-d",
    "-s",
    session,
    "-x",
    String(COLS),
    "-y",
    "50",
    "-c",
    cwd,
    `sh -c "${quoted}; echo '[exit '$?']'; sleep 600"`,
  );
  try {
    for (let i = 0; i < 600; i++) {
      // -J joins lines the terminal wrapped, so each printed line is one line here.
      const screen = tmux("capture-pane", "-p", "-J", "-t", session, "-S", "-200");
      // (-J also keeps trailing blanks, which a terminal does not show: trimmed.)
      if (/^\[exit \d+\]/m.test(screen))
        return screen
          .replace(/\n+$/, "")
          .split("\n")
          .map((l) => l.trimEnd());
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`vit ${args.join(" ")} did not finish in the tmux pane`);
  } finally {
    tmux("kill-session", "-t", session);
  }
}

describe.runIf(hasTmux)("progress on a terminal (tmux, 80 columns)", () => {
  let dir: string;
  let checkpoint = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vit-progress-"));
    writeFileSync(join(dir, "tty.yaml"), CONFIG);
  });
  afterAll(() => {
    try {
      tmux("kill-server");
    } catch {
      // no server left
    }
    rmSync(dirname(SOCKET), { recursive: true, force: true });
  });

  it("train: one bar below the log lines, the result line after it, nothing cut or overwritten", async () => {
    const lines = await onScreen(["train", "--config", "tty.yaml"], dir);
    const text = lines.join("\n");
    expect(lines.at(-1)).toBe("[exit 0]");
    // Exactly one training bar on the screen (no frozen copies), at its final state, whole.
    const bars = lines.filter((l) => /^train \[/.test(l));
    expect(bars, text).toHaveLength(1);
    expect(bars[0]).toMatch(/^train \[█+\] 8\/8 steps \| loss \d\.\d{4} \| \d+ img\/s$/);
    expect(bars[0]!.length).toBeLessThan(COLS);
    // The evaluation bar was removed once the test split was done.
    expect(lines.filter((l) => /^eval +\[/.test(l))).toEqual([]);
    // Every log line is on the screen, in order, above the bar; the summary printed first is intact.
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const order = [
      /^run +tty → /,
      /^model +/,
      /^step 4 epoch 0 loss/,
      /^step 8 epoch 0 loss/,
      /^eval step 8: top-1/,
      /^checkpoint /,
    ];
    const idx = order.map(at);
    expect(
      idx.every((i) => i >= 0),
      text,
    ).toBe(true);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
    const bar = lines.indexOf(bars[0]!);
    expect(idx.at(-1)!).toBeLessThan(bar);
    // The result comes after the bar and is not written over by it.
    expect(at(/^test top-1 \d+\.\d\d% {2}top-5/)).toBe(bar + 1);
    checkpoint = lines[idx.at(-1)!]!.replace(/^checkpoint /, "");
  });

  it("eval: an evaluation bar that ends full, then the result", async () => {
    expect(checkpoint).toMatch(/\.safetensors$/);
    const lines = await onScreen(["eval", "--checkpoint", checkpoint], dir);
    const text = lines.join("\n");
    expect(lines.at(-1)).toBe("[exit 0]");
    const bars = lines.filter((l) => /^eval +\[/.test(l));
    // 600 test images in batches of 256: 3 batches.
    expect(bars, text).toEqual([expect.stringMatching(/^eval +\[█+\] 3\/3 batches$/)]);
    expect(lines[lines.indexOf(bars[0]!) + 1]).toMatch(/^top-1 \d+\.\d\d% {2}top-5 .*\(600 images/);
  });
});

it.skipIf(hasTmux)("progress on a terminal needs tmux (apt-get install tmux)", () => {
  console.warn("progress.test.ts: tmux is not installed; the pseudo-terminal tests did not run.");
});
