/** Runs the built `vit` binary as a user would, collecting stdout, stderr and the exit code. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
export const BIN = new URL("../dist/main.js", import.meta.url).pathname;

export interface VitRun {
  stdout: string;
  stderr: string;
  code: number;
}

export async function vit(
  args: string[],
  cwd: string,
  opts: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): Promise<VitRun> {
  try {
    const r = await run(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
      cwd,
      maxBuffer: 1 << 24,
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
