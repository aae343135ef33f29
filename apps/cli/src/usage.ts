/**
 * A mistake in how a command was called (a bad flag value, a missing file): reported as one line by
 * errors.ts, without a stack, like the libraries' own error classes.
 */
export class UsageError extends Error {
  override name = "UsageError";
}
