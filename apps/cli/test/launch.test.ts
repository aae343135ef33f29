/**
 * `vit launch` when ranks fail: it names the rank that failed first and how (exit code, or the signal and
 * 128 + its number), lets the other ranks report before stopping them, and escalates to SIGKILL so that a
 * stopped rank cannot hang it. The ranks are a stub preloaded into every node process with
 * NODE_OPTIONS=--import (the launcher itself has no RANK and skips it), so each case takes well under a
 * second and needs no GPU.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = new URL("../dist/main.js", import.meta.url).pathname;

/**
 * VIT_TEST_MODE=env: every rank prints what the launcher gave it and exits 0.
 * kill: rank 1 kills itself with SIGKILL; rank 0 waits until it is gone, reports, and exits 3.
 * stop: rank 1 stops itself (SIGSTOP); rank 0 waits until it is stopped, reports, and exits 1.
 */
const STUB = `
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
const { RANK: rank, VIT_TEST_MODE: mode, VIT_TEST_DIR: dir } = process.env;
if (rank !== undefined && mode) {
  const pidFile = dir + "/rank1.pid";
  const until = async (ok) => { while (!ok()) await new Promise((r) => setTimeout(r, 10)); };
  const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
  const state = (pid) => { try { return readFileSync("/proc/" + pid + "/stat", "utf8").split(") ")[1][0]; } catch { return "?"; } };
  if (mode === "env") {
    const e = process.env;
    process.stderr.write("env " + JSON.stringify({ rank, token: e.VIT_JOB_TOKEN, timeout: e.VIT_COLLECTIVE_TIMEOUT, port: e.MASTER_PORT }) + "\\n");
    process.exit(0);
  }
  if (rank === "1") {
    writeFileSync(pidFile + ".tmp", String(process.pid));
    renameSync(pidFile + ".tmp", pidFile);
    process.kill(process.pid, mode === "kill" ? "SIGKILL" : "SIGSTOP");
    process.exit(0);
  }
  await until(() => existsSync(pidFile));
  const pid = Number(readFileSync(pidFile, "utf8"));
  if (mode === "kill") {
    await until(() => !alive(pid));
    process.stderr.write("rank 0: rank 1 disconnected; it crashed or was killed\\n");
    process.exit(3);
  }
  await until(() => state(pid) === "T");
  process.stderr.write("rank 0: timed out waiting for rank 1\\n");
  process.exit(1);
}
`;

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs `vit launch --nproc 2 [flags] -- model --list` over the stub; kills it (and fails) if it hangs. */
async function launch(mode: string, flags: string[]): Promise<Result & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "vit-launch-"));
  const stub = join(dir, "stub.mjs");
  writeFileSync(stub, STUB);
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, "launch", "--nproc", "2", ...flags, "--", "model", "--list"],
    {
      env: {
        ...process.env,
        NODE_OPTIONS: `--import=${pathToFileURL(stub).href}`,
        VIT_TEST_MODE: mode,
        VIT_TEST_DIR: dir,
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr += String(d);
  });
  const done = new Promise<Result>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, stderr })),
  );
  let hung = false;
  const watchdog = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
    try {
      process.kill(Number(readFileSync(join(dir, "rank1.pid"), "utf8")), "SIGKILL");
    } catch {}
  }, 30_000);
  const r = await done;
  clearTimeout(watchdog);
  if (hung) throw new Error(`vit launch hung (killed after 30 s); its stderr:\n${stderr}`);
  return { ...r, stderr, dir };
}

describe("vit launch", () => {
  it("names the rank that failed first, with its signal and 128 + its number, after the others report", async () => {
    // A long grace: rank 0 must get to report on its own, not be stopped.
    const r = await launch("kill", ["--grace", "60"]);
    expect(r.code, r.stderr).toBe(137); // 128 + SIGKILL (9)
    const lines = r.stderr.trim().split("\n");
    // Rank 0 may notice rank 1's death before the launcher prints it: the first two lines in either order.
    expect(lines.slice(0, 2).sort()).toEqual([
      "rank 0: rank 1 disconnected; it crashed or was killed",
      "vit launch: rank 1 was killed by SIGKILL (exit code 137); the other ranks have 60 s to report before they are stopped.",
    ]);
    expect(lines.slice(2)).toEqual([
      "vit launch: the job failed: rank 1 was killed by SIGKILL (exit code 137) first.",
    ]);
  });

  it("a stopped rank cannot hang it: SIGTERM after the grace period, then SIGKILL", async () => {
    const r = await launch("stop", ["--grace", "0.2"]);
    expect(r.code, r.stderr).toBe(1); // rank 0's code: it failed first
    expect(r.stderr.trim().split("\n")).toEqual([
      "rank 0: timed out waiting for rank 1",
      "vit launch: rank 0 exited with code 1; the other ranks have 0.2 s to report before they are stopped.",
      "vit launch: rank 1 still running 0.2 s after rank 0 failed: sending SIGTERM.",
      "vit launch: rank 1 still running 0.2 s after SIGTERM (stopped, or ignoring it): sending SIGKILL.",
      "vit launch: the job failed: rank 0 exited with code 1 first.",
    ]);
  });

  it("gives every rank the job's fresh token, a free port and --collective-timeout as VIT_COLLECTIVE_TIMEOUT", async () => {
    const seen = async () => {
      const r = await launch("env", ["--collective-timeout", "7"]);
      expect(r.code, r.stderr).toBe(0);
      return r.stderr
        .split("\n")
        .filter((l) => l.startsWith("env "))
        .map((l) => JSON.parse(l.slice(4)) as { rank: string; token: string; timeout: string; port: string })
        .sort((a, b) => Number(a.rank) - Number(b.rank));
    };
    const [a, b] = [await seen(), await seen()];
    expect(a.map((e) => e.rank)).toEqual(["0", "1"]);
    expect(a[0]!.token).toMatch(/^[0-9a-f]{64}$/);
    expect(a[1]!.token).toBe(a[0]!.token);
    expect(b[0]!.token).not.toBe(a[0]!.token); // one secret per job
    expect(a.map((e) => e.timeout)).toEqual(["7", "7"]);
    expect(Number(a[0]!.port)).toBeGreaterThan(0);
    expect(a[1]!.port).toBe(a[0]!.port);
    const bad = await launch("env", ["--collective-timeout", "soon"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--collective-timeout must be a positive number of seconds (got "soon")');
  });
});
