#!/usr/bin/env bash
# Fails when an import breaks the package arrows or the files' shape (rules and the reasons in
# .dependency-cruiser.cjs): a package importing one above it (errors <- tensor <- {nn, optim} <- parallel <-
# model <- trainer <- apps; data imports only errors), an import cycle inside a package's src, or a path into
# another package's src/dist instead of its name. Cruises packages/*/src and apps/*/src with dependency-cruiser.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if ! pnpm exec depcruise --config .dependency-cruiser.cjs --output-type err packages/*/src apps/*/src; then
  echo "check-deps: the imports above break the package arrows or close a cycle; see .dependency-cruiser.cjs" >&2
  exit 1
fi
echo "check-deps: package arrows point down, no import cycles, no deep imports"
