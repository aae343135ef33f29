#!/usr/bin/env node
/**
 * Compiles native/jpeg-box.c (the libjpeg-turbo box decoder) into a Node addon.
 *
 *   node scripts/build-native.mjs [--install] [buildDir]
 *
 * writes <buildDir>/<platform>-<arch>-napi<N>/jpeg_box.node (buildDir defaults to the package's
 * native/build; N is the NAPI_VERSION jpeg-box.c is written against), which is where src/jpeg-native.ts
 * looks for it. It runs as the package's `install` script, so a registry install builds the addon for the
 * installing machine (`npm rebuild @vit/data` builds it again), and after `tsup` in the monorepo's build.
 *
 * It needs a C compiler ($CC or cc) and libjpeg's headers and library (Debian/Ubuntu: gcc and libjpeg-dev;
 * Fedora: gcc and libjpeg-turbo-devel; macOS: brew install jpeg-turbo). Without them it says what is missing
 * and exits 0: @vit/data then decodes JPEGs through sharp (same pixels, slower) and says so once per
 * process. With --install nothing it does can fail the install. VIT_DATA_NATIVE=0 skips the build.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const install = args.includes("--install");
const pkgRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(pkgRoot, "native", "jpeg-box.c");
const buildDir = resolve(args.find((a) => !a.startsWith("--")) ?? join(pkgRoot, "native", "build"));
const say = (msg) => console.error(`[@vit/data native] ${msg}`);
const FIX =
  "For the fast path install a C compiler and libjpeg's headers (Debian/Ubuntu: apt-get install gcc libjpeg-dev), then npm rebuild @vit/data.";

try {
  build();
} catch (e) {
  // An install must never fail because of the optional fast path.
  say(`could not build the JPEG box decoder (${e instanceof Error ? e.message : String(e)}).`);
  if (!install) process.exitCode = 1;
}

function build() {
  if (process.env.VIT_DATA_NATIVE === "0") {
    say("VIT_DATA_NATIVE=0: not building the JPEG box decoder; JPEGs decode through sharp.");
    return;
  }
  const napi = /^#define NAPI_VERSION (\d+)$/m.exec(readFileSync(source, "utf8"))?.[1];
  if (!napi) throw new Error(`${source} does not #define NAPI_VERSION`);
  const out = join(buildDir, `${process.platform}-${process.arch}-napi${napi}`, "jpeg_box.node");
  const include = napiIncludeDir();
  if (!include) {
    say("no Node-API headers (node-api-headers package or <node>/include/node): JPEGs decode through sharp.");
    return;
  }
  const cc = process.env.CC || "cc";
  // Node resolves the napi_* symbols when it loads the addon; macOS's linker must be told to allow that.
  const linkFlags = process.platform === "darwin" ? ["-bundle", "-undefined", "dynamic_lookup"] : ["-shared"];
  const extra = process.platform === "darwin" ? ["-I/opt/homebrew/include", "-L/opt/homebrew/lib"] : [];
  const ccArgs = [
    "-O2",
    "-fPIC",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    ...linkFlags,
    ...extra,
    `-I${include}`,
    source,
    "-o",
    out,
    "-ljpeg",
  ];
  mkdirSync(dirname(out), { recursive: true });
  const r = spawnSync(cc, ccArgs, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    const why = r.error
      ? `${cc} not found`
      : (r.stderr
          .trim()
          .split("\n")
          .find((l) => /error/.test(l)) ?? r.stderr.trim());
    say(`could not build the JPEG box decoder (${why}).`);
    say(`JPEGs decode through sharp instead (same pixels, slower). ${FIX}`);
    return;
  }
  if (r.stderr.trim()) process.stderr.write(r.stderr);
  say(`built ${out}`);
}

/** Node-API headers: the node-api-headers package (official, versioned), else the ones Node ships with. */
function napiIncludeDir() {
  try {
    const dir = createRequire(import.meta.url)("node-api-headers").include_dir;
    if (existsSync(join(dir, "node_api.h"))) return dir;
  } catch {
    // fall through to Node's own headers
  }
  const own = resolve(dirname(process.execPath), "..", "include", "node");
  return existsSync(join(own, "node_api.h")) ? own : null;
}
