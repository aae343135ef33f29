#!/usr/bin/env node
/**
 * Compiles native/vit-mpi.c (the MPI binding of the "mpi" backend) into a Node addon.
 *
 *   node scripts/build-native.mjs [--install] [buildDir]
 *
 * writes <buildDir>/<platform>-<arch>-napi<N>/vit_mpi.node (buildDir defaults to the package's native/build;
 * N is the NAPI_VERSION vit-mpi.c is written against), where src/backends/mpi-native.ts looks for it. It runs
 * as the package's `install` script and after `tsup` in the monorepo's build.
 *
 * It needs an MPI compiler wrapper ($MPICC or mpicc) and MPI's headers and library (Debian/Ubuntu:
 * apt-get install openmpi-bin libopenmpi-dev; Fedora: openmpi-devel; macOS: brew install open-mpi). Without
 * them it says what is missing and exits 0: the TCP backend is always there, and the mpi backend says why it
 * is not. VIT_PARALLEL_NATIVE=0 skips the build.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const install = args.includes("--install");
const pkgRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(pkgRoot, "native", "vit-mpi.c");
const buildDir = resolve(args.find((a) => !a.startsWith("--")) ?? join(pkgRoot, "native", "build"));
const say = (msg) => console.error(`[@vit/parallel native] ${msg}`);
const FIX =
  "For the mpi backend install MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev), then rebuild @vit/parallel.";

try {
  build();
} catch (e) {
  // A build must never fail because of the optional backend.
  say(`could not build the MPI binding (${e instanceof Error ? e.message : String(e)}).`);
  if (!install) process.exitCode = 1;
}

function build() {
  if (process.env.VIT_PARALLEL_NATIVE === "0") {
    say("VIT_PARALLEL_NATIVE=0: not building the MPI binding; the tcp backend is available.");
    return;
  }
  const napi = /^#define NAPI_VERSION (\d+)$/m.exec(readFileSync(source, "utf8"))?.[1];
  if (!napi) throw new Error(`${source} does not #define NAPI_VERSION`);
  const out = join(buildDir, `${process.platform}-${process.arch}-napi${napi}`, "vit_mpi.node");
  const include = napiIncludeDir();
  if (!include) {
    say("no Node-API headers (node-api-headers package or <node>/include/node): no mpi backend.");
    return;
  }
  const cc = process.env.MPICC || "mpicc";
  const linkFlags = process.platform === "darwin" ? ["-bundle", "-undefined", "dynamic_lookup"] : ["-shared"];
  const ccArgs = [
    "-O2",
    "-fPIC",
    "-std=c11",
    "-D_POSIX_C_SOURCE=200809L",
    "-DNODE_GYP_MODULE_NAME=vit_mpi",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    ...linkFlags,
    `-I${include}`,
    source,
    "-o",
    out,
    "-lpthread",
    "-lm",
  ];
  mkdirSync(dirname(out), { recursive: true });
  const r = spawnSync(cc, ccArgs, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    const why = r.error
      ? `${cc} not found: MPI is not installed`
      : (r.stderr
          .trim()
          .split("\n")
          .find((l) => /error/.test(l)) ?? r.stderr.trim());
    say(`could not build the MPI binding (${why}).`);
    say(`The tcp backend works without it. ${FIX}`);
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
