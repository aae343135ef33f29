/**
 * `vit launch --nproc N [--master-port P] -- <command> [args]`: torchrun for vit. Starts N copies of the
 * `vit` command with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set; if one rank fails,
 * the others are stopped and the launcher exits with its code. Only rank 0's stdout is shown.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { UsageError } from "../errors.js";

export async function launchCommand(args: string[], opts: { nproc: string; masterPort?: string; masterAddr?: string }): Promise<number> {
  const n = Number(opts.nproc);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`vit launch: --nproc ${opts.nproc} is not a number of ranks`, { hint: "pass --nproc N with N ≥ 1" });
  if (!args.length) throw new UsageError("vit launch: no command to run", { hint: "give it after --, e.g. vit launch --nproc 2 -- train trainer.devices=2" });
  const port = opts.masterPort ?? String(29500 + (process.pid % 1000));
  const children: ChildProcess[] = [];
  const codes = await new Promise<number[]>((resolveAll) => {
    const done: number[] = new Array(n).fill(-1);
    let remaining = n;
    for (let r = 0; r < n; r++) {
      const child = spawn(process.execPath, [process.argv[1]!, ...args], {
        env: { ...process.env, RANK: String(r), LOCAL_RANK: String(r), WORLD_SIZE: String(n), MASTER_ADDR: opts.masterAddr ?? "127.0.0.1", MASTER_PORT: port },
        stdio: ["ignore", r === 0 ? "inherit" : "ignore", "inherit"],
      });
      children.push(child);
      child.on("exit", (code, signal) => {
        done[r] = code ?? (signal ? 128 : 1);
        if (done[r] !== 0) {
          // One rank failed: the others would wait for it at their next collective until timing out.
          for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
        }
        if (--remaining === 0) resolveAll(done);
      });
    }
  });
  const failed = codes.findIndex((c) => c !== 0);
  if (failed >= 0) console.error(`vit launch: rank ${failed} exited with code ${codes[failed]}`);
  return failed >= 0 ? codes[failed]! : 0;
}
