#!/usr/bin/env bash
# Fails on a `throw new Error(` in packages/*/src or apps/*/src that is not marked as a bug. Errors a user can
# cause are VitError subclasses with a hint (packages/errors), which the CLI prints as one line; a plain Error
# means "bug in vit" and gets a stack trace. Mark a genuine invariant violation with "// bug, not user input"
# (or "// bug, not user input: why") at the end of the throw's line or on the line above it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
files=$(find packages/*/src apps/*/src -type f \( -name '*.ts' -o -name '*.tsx' -o -name '*.mts' -o -name '*.js' -o -name '*.mjs' \) | sort)
# shellcheck disable=SC2086
if ! awk '
  FNR == 1 { prev = "" }
  /throw new Error\(/ && $0 !~ /\/\/ bug, not user input/ && prev !~ /\/\/ bug, not user input/ {
    print FILENAME ":" FNR ": " $0; bad++
  }
  { prev = $0 }
  END { exit bad > 0 }
' $files; then
  echo "check-errors: the lines above throw a plain Error. If a user can cause it, throw the package's VitError" \
    "subclass with a hint (the fix); if it is a bug in vit, mark it with // bug, not user input" >&2
  exit 1
fi
echo "check-errors: no unmarked throw new Error( in packages/*/src or apps/*/src"
