#!/usr/bin/env node
/**
 * Compiles native/jpeg-box.c (the libjpeg-turbo box decoder) into a Node addon.
 *
 *   node scripts/build-native.mjs [outFile]      default: dist/native/jpeg-box.node
 *
 * It needs a C compiler ($CC or cc) and libjpeg's headers and library (Debian/Ubuntu: gcc and
 * libjpeg62-turbo-dev, or libjpeg-turbo8-dev; Fedora: gcc and libjpeg-turbo-devel; macOS: brew install
 * jpeg-turbo). Without them it says what is missing and exits 0: @vit/data then decodes JPEGs through sharp,
 * which gives the same pixels, ~2-3x slower. Set VIT_DATA_NATIVE=0 to skip the build on purpose.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkgRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(pkgRoot, "native", "jpeg-box.c");
const out = resolve(process.argv[2] ?? join(pkgRoot, "dist", "native", "jpeg-box.node"));
const say = (msg) => console.error(`[@vit/data native] ${msg}`);

if (process.env.VIT_DATA_NATIVE === "0") {
  say("VIT_DATA_NATIVE=0: not building the JPEG box decoder; JPEGs decode through sharp.");
  process.exit(0);
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

const include = napiIncludeDir();
if (!include) {
  say("no Node-API headers (node-api-headers package or <node>/include/node): JPEGs decode through sharp.");
  process.exit(0);
}

const cc = process.env.CC || "cc";
// Node resolves the napi_* symbols when it loads the addon; macOS's linker must be told to allow that.
const linkFlags = process.platform === "darwin" ? ["-bundle", "-undefined", "dynamic_lookup"] : ["-shared"];
const extra = process.platform === "darwin" ? ["-I/opt/homebrew/include", "-L/opt/homebrew/lib"] : [];
const args = [
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
const r = spawnSync(cc, args, { encoding: "utf8" });
if (r.error || r.status !== 0) {
  const why = r.error
    ? `${cc} not found`
    : (r.stderr
        .trim()
        .split("\n")
        .find((l) => /error/.test(l)) ?? r.stderr.trim());
  say(`could not build the JPEG box decoder (${why}).`);
  say("JPEGs decode through sharp instead (same pixels, slower). For the fast path install a C compiler and");
  say("libjpeg's headers (Debian/Ubuntu: apt-get install gcc libjpeg62-turbo-dev) and rebuild @vit/data.");
  process.exit(0);
}
if (r.stderr.trim()) process.stderr.write(r.stderr);
say(`built ${out}`);
