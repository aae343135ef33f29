import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { testBuildDir } from "./helpers/paths.js";
import { tempDir } from "./helpers/tmp.js";

const script = fileURLToPath(new URL("../scripts/build-native.mjs", import.meta.url));
const NOTICE = /^\[@vit\/data\] JPEGs decode through sharp/;

/** Runs `code` (an ES module) in a fresh Node process against this run's bundle of the package. */
async function runWithBundle(code: string, env: Record<string, string | undefined>) {
  const dir = await tempDir();
  const file = join(dir, "run.mjs");
  await writeFile(file, code.replaceAll("@vit/data", join(testBuildDir(), "index.js")));
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const r = spawnSync(process.execPath, [file], {
    cwd: dir,
    env: childEnv,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, dir };
}

// Decodes JPEGs in the main thread (twice) and through a two-worker loader over a folder of JPEGs.
const decodeEverywhere = `
import { readdirSync, readFileSync } from "node:fs";
import { DataLoader, T, decodeImage, imageFolder, jpegDecoderInfo, writeSyntheticImageFolder } from "@vit/data";
const files = await writeSyntheticImageFolder("imgs", { images: 8, classes: 2, minSize: 32, maxSize: 48 });
const jpg = files.find((f) => f.endsWith(".jpg"));
await decodeImage(readFileSync(jpg), jpg);
await decodeImage(jpg, jpg);
const loader = new DataLoader(await imageFolder("imgs"), {
  batchSize: 4, numWorkers: 2, transforms: [T.randomResizedCrop(24), T.normalize()],
});
let n = 0;
for await (const b of loader) n += b.shape[0];
await loader.close();
console.log(JSON.stringify({ images: n, decoder: jpegDecoderInfo().name }));
`;

describe("native JPEG decoder: install-time build, tagged location, slow-path notice", () => {
  it("is found by its <platform>-<arch>-napi<N> tag next to dist/, with no override", async () => {
    const tags = readdirSync(join(testBuildDir(), "..", "native", "build"));
    expect(tags).toEqual([`${process.platform}-${process.arch}-napi8`]);
    const r = await runWithBundle(decodeEverywhere, { VIT_DATA_JPEG_ADDON: undefined });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ images: 8, decoder: expect.stringMatching(/native box decode/) });
    expect(r.stderr.split("\n").filter((l) => NOTICE.test(l))).toEqual([]);
  });

  it("says once per process, on one stderr line with the fix, when JPEGs go through sharp", async () => {
    // An addon path that does not exist stands for a machine where the install could not build it.
    const r = await runWithBundle(decodeEverywhere, { VIT_DATA_JPEG_ADDON: "/nonexistent/jpeg_box.node" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ images: 8, decoder: "sharp (libvips)" });
    const notices = r.stderr.split("\n").filter((l) => NOTICE.test(l));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain("not built for");
    expect(notices[0]).toMatch(/Fix: apt-get install gcc libjpeg-dev && npm rebuild @vit\/data$/);
  });

  it("stays quiet when sharp was chosen on purpose (VIT_DATA_JPEG_ADDON=off)", async () => {
    const r = await runWithBundle(decodeEverywhere, { VIT_DATA_JPEG_ADDON: "off" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split("\n").filter((l) => NOTICE.test(l))).toEqual([]);
  });

  it("the install script builds into the tagged directory, and never fails the install", async () => {
    const dir = await tempDir();
    const ok = spawnSync(process.execPath, [script, "--install", join(dir, "build")], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(existsSync(join(dir, "build", `${process.platform}-${process.arch}-napi8`, "jpeg_box.node"))).toBe(
      true,
    );

    // No working compiler: it explains and exits 0 (also without --install: the build goes on with sharp).
    const noCc = spawnSync(process.execPath, [script, "--install", join(dir, "nocc")], {
      encoding: "utf8",
      env: { ...process.env, CC: "/nonexistent/cc" },
    });
    expect(noCc.status).toBe(0);
    expect(noCc.stderr).toContain("apt-get install gcc libjpeg-dev), then npm rebuild @vit/data");

    // An unexpected failure (the build directory is a file): --install still exits 0; a build reports it.
    const file = join(dir, "a-file");
    await writeFile(file, "");
    const asInstall = spawnSync(process.execPath, [script, "--install", file], { encoding: "utf8" });
    expect(asInstall.status, asInstall.stderr).toBe(0);
    expect(asInstall.stderr).toContain("could not build the JPEG box decoder");
    const asBuild = spawnSync(process.execPath, [script, file], { encoding: "utf8" });
    expect(asBuild.status).toBe(1);
  });
});
