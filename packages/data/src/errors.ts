/**
 * Every failure the data pipeline reports on purpose is a DataError (a VitError, from the dependency-free
 * @vit/errors): it names the offending file (or sample) and says how to fix it, so a training run that dies at 3 a.m. leaves an actionable message behind.
 * Errors cross the worker boundary as plain objects (see serializeError) and are rebuilt into the same class.
 */
import { VitError } from "@vit/errors";

export class DataError extends VitError {
  /** Stable machine-readable code, e.g. "E_NOT_FOUND". */
  readonly code: string;
  /** The file (or sample id) the error is about, when there is one (also `where`). */
  readonly path: string | undefined;

  constructor(code: string, message: string, opts: { path?: string; hint?: string; cause?: unknown } = {}) {
    super(message, { hint: opts.hint, where: opts.path, cause: opts.cause });
    this.code = code;
    this.path = opts.path;
  }
}

/** A data set root, file or shard does not exist. */
export class NotFoundError extends DataError {
  constructor(what: string, path: string, hint: string) {
    super("E_NOT_FOUND", `${what} not found: ${path}`, { path, hint });
  }
}

/** A class folder (or a whole data set) holds no usable samples. */
export class EmptyDatasetError extends DataError {
  constructor(message: string, path: string, hint: string) {
    super("E_EMPTY", message, { path, hint });
  }
}

/** An image could not be decoded (corrupt, truncated, unsupported format). */
export class DecodeError extends DataError {
  constructor(
    path: string,
    reason: string,
    hint = "replace or delete the file, or pass onBadImage: 'skip' to the DataLoader to skip unreadable images",
  ) {
    super("E_DECODE", `Cannot decode image ${path}: ${reason}`, { path, hint });
  }
}

/** A binary data file (IDX, CIFAR, cache, tar) does not have the expected layout. */
export class FormatError extends DataError {
  constructor(path: string, reason: string, hint: string) {
    super("E_FORMAT", `Bad data file ${path}: ${reason}`, { path, hint });
  }
}

/** A label lies outside [0, numClasses). */
export class LabelRangeError extends DataError {
  constructor(path: string, label: number, numClasses: number, where: string) {
    super("E_LABEL_RANGE", `Label ${label} at ${where} of ${path} is outside [0, ${numClasses})`, {
      path,
      hint: `check the label file, or declare numClasses >= ${label + 1} when creating the data set`,
    });
  }
}

/** Samples of one batch ended up with different shapes. */
export class ShapeMismatchError extends DataError {
  constructor(path: string, got: readonly number[], expected: readonly number[], firstPath?: string) {
    const from = firstPath ? ` (set by ${firstPath})` : "";
    super(
      "E_SHAPE",
      `Image ${path} has shape [${got.join(",")}] (C,H,W) after transforms but the batch expects [${expected.join(",")}]${from}`,
      {
        path,
        hint: "add a size-fixing transform such as randomResizedCrop(size), resizeCenterCrop(size) or resize([h, w])",
      },
    );
  }
}

/** A user-supplied or built-in transform threw while processing a sample. */
export class TransformError extends DataError {
  constructor(path: string, transform: string, reason: string, cause?: unknown) {
    super("E_TRANSFORM", `Transform ${transform} failed on ${path}: ${reason}`, {
      path,
      hint: "fix the transform or its options; the error above comes from inside it",
      cause,
    });
  }
}

/** A loader worker died (crash, process.exit, out of memory) or could not start. */
export class WorkerCrashError extends DataError {
  constructor(reason: string) {
    super("E_WORKER", `DataLoader worker failed: ${reason}`, {
      hint: "see the reason above; run with numWorkers: 0 to debug the same pipeline in-process",
    });
  }
}

/** Wrong arguments or state (bad option values, resuming with a different batch size...). */
export class ConfigError extends DataError {
  constructor(message: string, hint: string) {
    super("E_CONFIG", message, { hint });
  }
}

/** Plain-object form of an error, safe to post between threads. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  path?: string;
  hint?: string;
  stack?: string;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof DataError) {
    return { name: e.name, message: e.message, code: e.code, path: e.path, hint: e.hint, stack: e.stack };
  }
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: "Error", message: String(e) };
}

/** Rebuilds a DataError subclass from its serialized form, keeping message, path and hint verbatim. */
export function deserializeError(s: SerializedError): Error {
  const proto = errorClasses[s.name];
  if (proto) {
    const e = Object.create(proto.prototype) as DataError;
    Object.defineProperties(e, {
      message: { value: s.message, writable: true, configurable: true },
      code: { value: s.code ?? "E_DATA", enumerable: true },
      path: { value: s.path, enumerable: true },
      hint: { value: s.hint, enumerable: true },
      where: { value: s.path, enumerable: true },
      stack: { value: s.stack ?? `${s.name}: ${s.message}`, writable: true, configurable: true },
    });
    return e;
  }
  const e = new Error(s.message);
  e.name = s.name;
  if (s.stack) e.stack = s.stack;
  return e;
}

const errorClasses: Record<string, abstract new (...args: never[]) => DataError> = {
  DataError,
  NotFoundError,
  EmptyDatasetError,
  DecodeError,
  FormatError,
  LabelRangeError,
  ShapeMismatchError,
  TransformError,
  WorkerCrashError,
  ConfigError,
};
