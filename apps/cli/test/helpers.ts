/** The built `vit` binary, run as a user would, and the small synthetic-data config the CLI tests train. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
export const BIN = new URL("../dist/main.js", import.meta.url).pathname;

export interface VitRun {
  stdout: string;
  stderr: string;
  code: number;
}

/** Options: a timeout in ms (a number, for brevity), or an object with a timeout, env and node flags. */
export type VitOptions = number | { timeout?: number; env?: NodeJS.ProcessEnv; nodeArgs?: string[] };

export async function vit(args: string[], cwd: string, options: VitOptions = {}): Promise<VitRun> {
  const opts = typeof options === "number" ? { timeout: options } : options;
  try {
    const r = await run(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
      cwd,
      maxBuffer: 1 << 24,
      timeout: opts.timeout ?? 0,
      ...(opts.env ? { env: opts.env } : {}),
    });
    return { ...r, code: 0 };
  } catch (e) {
    const x = e as { stdout: string; stderr: string; code: number };
    return { stdout: x.stdout, stderr: x.stderr, code: x.code };
  }
}

/** stderr's lines without Dawn's adapter warnings, which the driver prints for every device it creates. */
export function stderrLines(r: VitRun): string[] {
  return r.stderr.split("\n").filter((l) => l.trim() !== "" && !/^Warning: maxDynamic/.test(l));
}

export const lastJson = (s: string) => JSON.parse(s.trim().split("\n").pop()!);

/** A ViT small enough to train in seconds on the synthetic set (8 batches of 16 per epoch). */
export const CONFIG = `
name: cli-smoke
trainer: { max_steps: 8, log_every_n_steps: 4, seed: 3 }
model:
  style: nemo
  img_h: 16
  img_w: 16
  num_channels: 3
  patch_dim: 4
  hidden_size: 32
  ffn_hidden_size: 64
  num_attention_heads: 2
  num_layers: 2
  num_classes: 5
  class_token_length: 2
  hidden_dropout: 0.0
  head_type: linear
  micro_batch_size: 16
  optim: { name: adamw, lr: 0.003, weight_decay: 0.01, sched: { name: CosineAnnealing, warmup_steps: 2 } }
  data: { dataset: synthetic, synthetic_size: 128 }
exp_manager: { exp_dir: runs, name: smoke }
`;
