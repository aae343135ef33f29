/**
 * Node system errors (ENOENT, EISDIR, EACCES, ENOSPC, ...) that a user causes — a mistyped path, a folder
 * where a file belongs, a full disk — translated into one line that names the path and the fix. This is the
 * one place that does it: the packages let these errors through untouched, and the CLI's error boundary
 * (errors.ts) calls this before deciding whether an error is a bug.
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { VitError } from "@vit/tensor";

/** A failed system call on something the user named or controls (a file, a directory, a port, the disk). */
export class OSError extends VitError {
  constructor(
    message: string,
    /** The errno code, e.g. "ENOENT". */
    readonly code: string,
    hint: string,
    path: string | undefined,
    cause: unknown,
  ) {
    super(message, { hint, where: path, cause });
  }
}

interface NodeSystemError extends Error {
  code: string;
  syscall: string;
  path?: string;
  dest?: string;
  address?: string;
  port?: number;
}

function isSystemError(e: unknown): e is NodeSystemError {
  return e instanceof Error && typeof (e as NodeSystemError).code === "string" && "syscall" in e;
}

/**
 * Writes go to a hidden temporary file beside the target (`.<name>.tmp-<pid>-<random>`, then renamed), so a
 * system error may name that file; the user named the target.
 */
function userPath(path: string): string {
  const m = /^\.(.+)\.tmp-[\w-]+$/.exec(basename(path));
  return m ? join(dirname(path), m[1]!) : path;
}

/** The user-facing form of a Node system error, or null when `e` is not one (or not one a user causes). */
export function fromSystemError(e: unknown): OSError | null {
  if (!isSystemError(e)) return null;
  const path = e.path === undefined ? undefined : userPath(e.path);
  const make = (message: string, hint: string) => new OSError(message, e.code, hint, path, e);
  switch (e.code) {
    case "ENOENT": {
      if (path === undefined) return make("no such file or directory", "check the paths you passed");
      const dir = dirname(path);
      if (!existsSync(dir)) {
        return make(
          `directory ${dir} does not exist (for ${path})`,
          "create it, or choose an existing directory",
        );
      }
      return make(
        `no such file or directory: ${path}`,
        `check the path; relative paths start from ${process.cwd()}`,
      );
    }
    case "EISDIR":
      return path === undefined
        ? make("a directory was given where a file is expected", "pass a file, not a folder")
        : make(`${path} is a directory, not a file`, "pass a file inside it, not the folder");
    case "ENOTDIR":
      return make(`${path ?? "a path"}: a part of the path is a file, not a directory`, "check the path");
    case "EACCES":
    case "EPERM":
      return make(
        `permission denied${path ? `: ${path}` : ""} (${e.syscall})`,
        "check the permissions of the file and its folder, or choose a place you can read and write",
      );
    case "EROFS":
      return make(`${path ?? "the target"} is on a read-only file system`, "write to another directory");
    case "ENOSPC":
    case "EDQUOT":
      return make(
        `${e.code === "ENOSPC" ? "no space left on the device" : "disk quota exceeded"}${path ? ` writing ${path}` : ""}`,
        "free some disk space, or point exp_manager.exp_dir (or the output path) at a disk with room",
      );
    case "EEXIST":
      return make(`${path ?? "the target"} already exists`, "remove it, or choose another name");
    case "EMFILE":
    case "ENFILE":
      return make("too many open files", "raise the limit (ulimit -n), or use fewer data loader workers");
    case "EADDRINUSE":
      return make(
        `address ${e.address ?? ""}:${e.port ?? ""} is already in use`,
        "choose another port (vit launch --master-port, or MASTER_PORT), or stop the job holding it",
      );
    default:
      return null;
  }
}
