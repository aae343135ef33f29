/**
 * `vit launch --nproc N [options] -- <command> [args]`: torchrun for vit. Starts N copies of the `vit`
 * command with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT and a fresh secret, VIT_JOB_TOKEN,
 * without which no process can join the job. Only rank 0's stdout is shown; every rank's stderr is.
 *
 * When a rank fails, the launcher remembers it as the job's cause, gives the others `--grace` seconds to
 * notice and report (a dead peer makes their next collective fail with a message naming it), then sends
 * SIGTERM, and SIGKILL after another grace period — a rank that is stopped (SIGSTOP) or ignores SIGTERM
 * cannot hang the launcher. It exits with the first failed rank's code, 128 + the signal number for a
 * rank killed by a signal, as shells report it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { UsageError } from "../errors.js";
import { createServer } from "node:net";
import { constants } from "node:os";
import { COLLECTIVE_TIMEOUT_ENV, JOB_TOKEN_ENV, newJobToken } from "@vit/parallel";
import { launchMpi } from "./launch-mpi.js";

export interface LaunchOptions {
  nproc: string;
  masterPort?: string;
  masterAddr?: string;
  /** Seconds the other ranks get to report after one fails, and again to exit after SIGTERM. */
  grace?: string;
  /** Seconds a collective may wait for the other ranks (VIT_COLLECTIVE_TIMEOUT; default 300). */
  collectiveTimeout?: string;
  /** "tcp" (default: this launcher and the TCP star) or "mpi" (hands the job to mpirun). */
  backend?: string;
}

export const DEFAULT_GRACE_SECONDS = 10;

function seconds(flag: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const s = Number(value);
  if (!(Number.isFinite(s) && s > 0))
    throw new UsageError(`vit launch: ${flag} must be a positive number of seconds (got "${value}")`, {
      hint: `pass ${flag} S with S > 0`,
    });
  return s;
}

/** A port the OS reports free on `addr` (rank 0 binds it a moment later). */
function freePort(addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", (e: NodeJS.ErrnoException) =>
      reject(
        new UsageError(`vit launch: cannot find a free port on --master-addr ${addr} (${e.code ?? e.message})`, {
          hint: "pass --master-addr with an address of this machine, or --master-port with a free port",
        }),
      ),
    );
    s.listen(0, addr, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** How a rank ended, as a shell would report it: its exit code, or 128 + the number of the signal that killed it. */
function describeExit(code: number | null, signal: NodeJS.Signals | null): { code: number; text: string } {
  if (signal) {
    const n = 128 + (constants.signals[signal] ?? 0);
    return { code: n, text: `was killed by ${signal} (exit code ${n})` };
  }
  return { code: code ?? 1, text: `exited with code ${code ?? 1}` };
}

const list = (ranks: number[]) => `rank${ranks.length > 1 ? "s" : ""} ${ranks.join(", ")}`;

export async function launchCommand(args: string[], opts: LaunchOptions): Promise<number> {
  const n = Number(opts.nproc);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`vit launch: --nproc ${opts.nproc} is not a number of ranks`, { hint: "pass --nproc N with N ≥ 1" });
  if (!args.length)
    throw new UsageError("vit launch: no command to run", {
      hint: "give it after --, e.g. vit launch --nproc 2 -- train trainer.devices=2",
    });
  const grace = seconds("--grace", opts.grace, DEFAULT_GRACE_SECONDS)! * 1000;
  const timeout = seconds("--collective-timeout", opts.collectiveTimeout);
  const backend = opts.backend ?? "tcp";
  if (backend !== "tcp" && backend !== "mpi")
    throw new UsageError(`vit launch: --backend ${backend} is not a backend`, {
      hint: "pass --backend tcp or --backend mpi",
    });
  if (backend === "mpi") return launchMpi(n, args, timeout);
  const addr = opts.masterAddr ?? "127.0.0.1";
  const port = opts.masterPort ?? String(await freePort(addr));
  const env = {
    ...process.env,
    WORLD_SIZE: String(n),
    MASTER_ADDR: addr,
    MASTER_PORT: port,
    [JOB_TOKEN_ENV]: newJobToken(),
    ...(timeout !== undefined ? { [COLLECTIVE_TIMEOUT_ENV]: String(timeout) } : {}),
  };

  const children: ChildProcess[] = [];
  const running = new Set<number>();
  let first: { rank: number; code: number; text: string } | null = null;
  const timers: NodeJS.Timeout[] = [];
  const signalRunning = (signal: NodeJS.Signals, why: string) => {
    if (!running.size) return;
    console.error(`vit launch: ${list([...running])} ${why}: sending ${signal}.`);
    for (const r of running) children[r]!.kill(signal);
  };
  /** After the first failure: grace, SIGTERM, grace, SIGKILL (a stopped process only yields to SIGKILL). */
  const stopOthers = () => {
    const s = grace / 1000;
    timers.push(
      setTimeout(() => {
        signalRunning("SIGTERM", `still running ${s} s after rank ${first!.rank} failed`);
        timers.push(
          setTimeout(
            () => signalRunning("SIGKILL", `still running ${s} s after SIGTERM (stopped, or ignoring it)`),
            grace,
          ),
        );
      }, grace),
    );
  };

  await new Promise<void>((allDone) => {
    const ended = (r: number, how: { code: number; text: string }) => {
      if (!running.delete(r)) return;
      if (how.code !== 0 && !first) {
        first = { rank: r, ...how };
        console.error(
          `vit launch: rank ${r} ${how.text}${running.size ? `; the other ranks have ${grace / 1000} s to report before they are stopped` : ""}.`,
        );
        stopOthers();
      }
      if (!running.size) allDone();
    };
    for (let r = 0; r < n; r++) {
      running.add(r);
      const child = spawn(process.execPath, [process.argv[1]!, ...args], {
        env: { ...env, RANK: String(r), LOCAL_RANK: String(r) },
        stdio: ["ignore", r === 0 ? "inherit" : "ignore", "inherit"],
      });
      children.push(child);
      child.on("exit", (code, signal) => ended(r, describeExit(code, signal)));
      // A process that could not be started never emits "exit".
      child.on("error", (e) => {
        if (child.pid === undefined) ended(r, { code: 1, text: `could not be started (${e.message})` });
      });
    }
  });
  for (const t of timers) clearTimeout(t);
  const cause = first as { rank: number; code: number; text: string } | null;
  if (cause) console.error(`vit launch: the job failed: rank ${cause.rank} ${cause.text} first.`);
  return cause?.code ?? 0;
}
