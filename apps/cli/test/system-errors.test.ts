/** Node system errors a user causes become one-line VitErrors naming the path and the fix. Real errors, from real calls. */
import { existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VitError } from "@vit/tensor";
import { describe, expect, it } from "vitest";
import { formatError } from "../src/errors.js";
import { fromSystemError } from "../src/system-errors.js";

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

describe("fromSystemError", () => {
  const dir = mkdtempSync(join(tmpdir(), "vit-syserr-"));

  it("ENOENT: a missing file, or a missing folder for a file being written (named as the user named it)", () => {
    const missing = fromSystemError(thrown(() => readFileSync(join(dir, "nope.safetensors"))));
    expect(missing).toBeInstanceOf(VitError);
    expect(missing!.message).toBe(
      `no such file or directory: ${join(dir, "nope.safetensors")} (fix: check the path; relative paths start from ${process.cwd()})`,
    );
    // saveSafetensors writes `.<name>.tmp-<pid>-<random>` beside the target first.
    const tmp = join(dir, "no-such-dir", ".out.safetensors.tmp-123-abc");
    const write = fromSystemError(thrown(() => openSync(tmp, "wx")));
    expect(write!.message).toBe(
      `directory ${join(dir, "no-such-dir")} does not exist (for ${join(dir, "no-such-dir", "out.safetensors")}) ` +
        "(fix: create it, or choose an existing directory)",
    );
  });

  it("EISDIR, with and without the path", () => {
    expect(fromSystemError(thrown(() => writeFileSync(dir, "x")))!.message).toBe(
      `${dir} is a directory, not a file (fix: pass a file inside it, not the folder)`,
    );
    // Reading a directory fails in read(2), whose error carries no path.
    expect(fromSystemError(thrown(() => readFileSync(dir)))!.message).toMatch(
      /^a directory was given where a file/,
    );
  });

  it.runIf(existsSync("/dev/full"))("ENOSPC: a full disk", () => {
    const e = fromSystemError(thrown(() => writeFileSync("/dev/full", "x")));
    expect(e!.message).toMatch(/^no space left on the device.* \(fix: free some disk space/);
    expect(
      formatError(
        thrown(() => writeFileSync("/dev/full", "x")),
        false,
      ),
    ).toEqual([`vit: ${e!.message}`]);
  });

  it("leaves other errors alone: those are bugs, printed with their stack", () => {
    expect(fromSystemError(new TypeError("x"))).toBeNull();
    expect(fromSystemError("a string")).toBeNull();
    const lines = formatError(new TypeError("boom"), false);
    expect(lines[0]).toMatch(/^vit: internal error \(a bug in vit/);
    expect(lines[1]).toMatch(/^TypeError: boom\n\s+at /);
  });
});
