/**
 * VitError: the one base class of every error a user of vit can cause — a bad config value, a missing or
 * malformed file, a parallel layout that cannot work. Its message says what went wrong (and where); its
 * `hint` says how to fix it, and the message ends with it, so `e.message` alone is the whole story on one
 * line. Anything that is not a VitError is a bug in vit, which is why the CLI shows stacks only for those.
 */

/**
 * Shared through the global symbol registry, so two copies of this package (two installed versions, or one
 * bundled into another package) still recognise each other's errors with `instanceof VitError`.
 */
const BRAND: unique symbol = Symbol.for("vit.error") as never;

export interface VitErrorOptions {
  /** The fix, one short sentence: "pass --to timm, hf, nemo or vit". Appended to the message as "(fix: ...)". */
  hint?: string | undefined;
  /** What the error is about — a file, a config key, a rank — for programs; the message names it too. */
  where?: string | undefined;
  /** The underlying error (a Node system error, a parser's exception). */
  cause?: unknown;
}

export class VitError extends Error {
  /** How to fix it, when there is a fix to give. */
  readonly hint: string | undefined;
  /** The file, config key or rank the error is about, when there is one. */
  readonly where: string | undefined;

  constructor(message: string, opts: VitErrorOptions = {}) {
    super(withHint(message, opts.hint), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.hint = opts.hint;
    this.where = opts.where;
  }

  /** The subclass's name (ShapeError, ConfigError, ...), also for errors rebuilt from a prototype. */
  override get name(): string {
    return this.constructor.name;
  }

  /** Subclasses written as `this.name = "X"` (the usual idiom) still work: the value becomes their own. */
  override set name(value: string) {
    Object.defineProperty(this, "name", { value, writable: true, configurable: true });
  }

  /** `instanceof VitError` is a brand check (see BRAND); subclasses keep the ordinary prototype check. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class on the right of instanceof, maybe a subclass
    if (this !== VitError) return Function.prototype[Symbol.hasInstance].call(this, x);
    return typeof x === "object" && x !== null && (x as { [BRAND]?: unknown })[BRAND] === true;
  }
}
Object.defineProperty(VitError.prototype, BRAND, { value: true });

/** "problem (fix: hint)": the one-line form every VitError message takes. */
function withHint(message: string, hint: string | undefined): string {
  return hint ? `${message.replace(/\.$/, "")} (fix: ${hint})` : message;
}
