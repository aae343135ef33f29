/**
 * The `./vit` script at the root of the checkout: it runs the set-up (tooling/scripts/bootstrap.sh, which
 * needs the checkout as its directory) and then the CLI, which must run in the caller's directory so that
 * relative paths mean what the user typed and outputs (runs/, converted weights) land where they ran it.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { loadSafetensors, saveSafetensors } from "@vit/nn";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const REPO = new URL("../../../", import.meta.url).pathname;

describe("./vit", () => {
  it("keeps the caller's working directory: relative input and output paths resolve against it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-wrapper-"));
    // A minimal vit checkpoint (its config names a preset), converted to our own names: no GPU needed.
    const weights = new Float32Array([1.5, -2, 3.25]);
    await saveSafetensors(
      join(dir, "in.safetensors"),
      { "model.w": { dtype: "F32", shape: [3], data: weights } },
      { vit: JSON.stringify({ config: { model: { preset: "tiny" } }, step: 0 }) },
    );
    // A name that cannot exist in the checkout already, so a stray file there is this run's.
    const out = `${basename(dir)}.safetensors`;
    try {
      const r = await run(join(REPO, "vit"), ["convert", "in.safetensors", out, "--to", "vit"], {
        cwd: dir,
        maxBuffer: 1 << 24,
      }).catch((e: { stdout: string; stderr: string; code: number }) => e);
      expect("code" in r ? r.code : 0, r.stderr).toBe(0);
      expect(existsSync(join(REPO, out))).toBe(false);
      const back = await loadSafetensors(join(dir, out));
      expect(Array.from(back["model.w"]!.data as Float32Array)).toEqual(Array.from(weights));
    } finally {
      rmSync(join(REPO, out), { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is quiet when there is nothing to set up: no install, driver or build chatter on stderr", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-wrapper-"));
    try {
      // The first call may still have work to do (a build after an edit); the second has none.
      await run(join(REPO, "vit"), ["model", "--preset", "tiny"], { cwd: dir, maxBuffer: 1 << 24 });
      const r = await run(join(REPO, "vit"), ["model", "--preset", "tiny"], { cwd: dir, maxBuffer: 1 << 24 });
      expect(r.stdout).toMatch(/tiny/);
      expect(r.stderr).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
