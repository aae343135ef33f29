#!/usr/bin/env node
/**
 * Writes pnpm's registry-metadata cache for every third-party package version in pnpm-lock.yaml.
 *
 *   node tooling/scripts/lockfile-metadata.mjs <cacheDir>
 *
 * Why: the pack check installs the packed tarballs into an empty project, and a project without a lockfile
 * needs registry metadata to resolve ranges like "sharp": "^0.34.5", even when every package's files are
 * already in pnpm's store (the workspace install put them there from the lockfile, which holds no metadata).
 * With this cache, `pnpm install --offline --cache-dir <cacheDir>` resolves and installs with no network,
 * and pnpm still does the resolution itself (ranges, peers, optional platform packages) from the tarballs'
 * own package.json files, as it would for a user. Only versions locked by the workspace are offered, so the
 * check runs the dependency versions the test suite ran.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
// The monorepo has no YAML parser at its root; @vit/trainer depends on one.
const { parse } = createRequire(join(root, "packages/trainer/package.json"))("yaml");
const cacheDir = process.argv[2];
if (!cacheDir) {
  console.error("usage: lockfile-metadata.mjs <cacheDir>");
  process.exit(2);
}

const lock = parse(readFileSync(join(root, "pnpm-lock.yaml"), "utf8"));
/** "name@1.2.3(peer@4.5.6)" -> ["name", "1.2.3"] */
function split(key) {
  const base = key.replace(/\(.*$/, "");
  const at = base.lastIndexOf("@");
  return [base.slice(0, at), base.slice(at + 1)];
}
/** Snapshot dependency values carry the peers they were resolved with: "3.2.2(bare-buffer@3.7.3)". */
const plain = (deps) =>
  deps
    ? Object.fromEntries(Object.entries(deps).map(([n, v]) => [n, String(v).replace(/\(.*$/, "")]))
    : undefined;

const snapshots = new Map();
for (const [key, snap] of Object.entries(lock.snapshots ?? {}))
  snapshots.set(key.replace(/\(.*$/, ""), snap ?? {});

const byName = new Map();
for (const [key, pkg] of Object.entries(lock.packages ?? {})) {
  const [name, version] = split(key);
  const integrity = pkg.resolution?.integrity;
  if (!integrity) continue; // links, directories: nothing a registry would serve
  const snap = snapshots.get(`${name}@${version}`) ?? {};
  const manifest = {
    name,
    version,
    dependencies: plain(snap.dependencies),
    optionalDependencies: plain(snap.optionalDependencies),
    peerDependencies: pkg.peerDependencies,
    peerDependenciesMeta: pkg.peerDependenciesMeta,
    engines: pkg.engines,
    os: pkg.os,
    cpu: pkg.cpu,
    libc: pkg.libc,
    // pnpm links bins from the installed package.json; the flag only has to be present.
    bin: pkg.hasBin ? {} : undefined,
    dist: {
      integrity,
      tarball: `https://registry.npmjs.org/${name}/-/${name.split("/").pop()}-${version}.tgz`,
    },
  };
  if (!byName.has(name)) byName.set(name, {});
  byName.get(name)[version] = JSON.parse(JSON.stringify(manifest));
}

// pnpm reads the abbreviated documents, and the full ones for optional dependencies (platform packages).
const dirs = ["metadata-v1.3", "metadata-full-v1.3"].map((d) => join(cacheDir, d, "registry.npmjs.org"));
const time = "2020-01-01T00:00:00.000Z";
for (const [name, versions] of byName) {
  const latest = Object.keys(versions).sort(compareVersions).pop();
  const doc = {
    name,
    "dist-tags": { latest },
    versions,
    time: Object.fromEntries(Object.keys(versions).map((v) => [v, time])),
    modified: time,
    cachedAt: Date.now(),
  };
  for (const dir of dirs) {
    const file = join(dir, `${name}.json`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(doc));
  }
}
console.error(`lockfile-metadata: ${byName.size} packages written under ${cacheDir}`);

function compareVersions(a, b) {
  const pa = a.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    if (pa[i] === undefined) return 1; // 1.0.0 > 1.0.0-rc
    if (pb[i] === undefined) return -1;
    return typeof pa[i] === "number" && typeof pb[i] === "number"
      ? pa[i] - pb[i]
      : String(pa[i]) < String(pb[i])
        ? -1
        : 1;
  }
  return 0;
}
