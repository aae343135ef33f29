/**
 * Turns errors into one clear line on stderr and exit code 1 — no stack dumps for user errors. Our own
 * error classes (VitError, config/data errors) carry messages written for users; anything else is a bug,
 * so its stack is shown with VIT_DEBUG=1.
 */
export function reportAndExit(e: unknown): never {
  const err = e as Error;
  const known = err && typeof err === "object" && "name" in err && /Error$/.test(err.name) && err.name !== "Error" && err.name !== "TypeError" && err.name !== "ReferenceError";
  console.error(`vit: ${known ? `${err.name}: ` : ""}${err?.message ?? String(e)}`);
  if (process.env.VIT_DEBUG === "1" || !known) console.error(err?.stack ?? "");
  process.exit(1);
}
