#!/usr/bin/env bash
# Proves @vit/tensor is publishable on its own: pack it and @vit/errors (its one workspace dependency, published
# beside it), install the tarballs into an empty project (the other dependencies come from the registry, as for
# a user), import it and run one op on the GPU.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pkg in errors tensor; do (cd "$ROOT/packages/$pkg" && pnpm pack --pack-destination "$tmp" >/dev/null); done
tarballs=("$tmp"/vit-errors-*.tgz "$tmp"/vit-tensor-*.tgz)
mkdir "$tmp/app"
cd "$tmp/app"
echo '{"name":"pack-check","private":true,"type":"module"}' > package.json
npm install --no-audit --no-fund --loglevel=error "${tarballs[@]}" >/dev/null
cat > check.mjs <<'JS'
import { Device, ShapeError, VitError, tensor, matmul } from "@vit/tensor";
if (!(new ShapeError("x") instanceof VitError)) { console.error("pack-check: ShapeError is not a VitError"); process.exit(1); }
const dev = await Device.create();
const a = tensor(dev, [1, 2, 3, 4], [2, 2]);
const c = await matmul(a, a).data();
if (c.join() !== "7,10,15,22") { console.error("pack-check: wrong result", c); process.exit(1); }
console.log("pack-check: @vit/tensor installed from its tarball works:", Array.from(c).join(","));
dev.destroy();
process.exit(0);
JS
node check.mjs 2> >(grep -v '^Warning: maxDynamic' >&2)
