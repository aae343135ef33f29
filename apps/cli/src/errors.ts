/**
 * The CLI's error boundary. A VitError (anything a user can cause, from any package) prints as one line,
 * `vit: <what went wrong> (fix: <hint>)`, and exits 1. Node system errors the user caused (a missing file, a
 * folder passed as a file, a full disk) are translated into the same form first (system-errors.ts). Anything
 * else is a bug in vit: its stack is printed. VIT_DEBUG=1 prints stacks for every error.
 */
import { VitError } from "@vit/tensor";
import { fromSystemError } from "./system-errors.js";

/** Wrong command-line arguments: a bad option value, a missing argument. */
export class UsageError extends VitError {}

/** The lines to print for `e`; `debug` adds stack traces (and causes) to user errors too. */
export function formatError(e: unknown, debug: boolean): string[] {
  const user = e instanceof VitError ? e : fromSystemError(e);
  if (user) {
    const lines = [`vit: ${user.message}`];
    if (debug) lines.push(...stacks(e));
    return lines;
  }
  return ["vit: internal error (a bug in vit; please report it with the stack below):", ...stacks(e)];
}

/** The stack of `e` and of each error in its cause chain. */
function stacks(e: unknown): string[] {
  const out: string[] = [];
  for (let x = e, depth = 0; x !== undefined && depth < 8; x = (x as { cause?: unknown }).cause, depth++) {
    out.push(depth ? `caused by: ${stackOf(x)}` : stackOf(x));
    if (!(x instanceof Error)) break;
  }
  return out;
}

function stackOf(x: unknown): string {
  return x instanceof Error ? (x.stack ?? `${x.name}: ${x.message}`) : String(x);
}

export function reportAndExit(e: unknown): never {
  for (const line of formatError(e, process.env.VIT_DEBUG === "1")) console.error(line);
  process.exit(1);
}
