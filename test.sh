#!/usr/bin/env bash
# Runs the whole test suite: set-up (bootstrap.sh), every package's vitest suite one package at a time
# (the GPU driver already uses every core), then the pack check (every package packed, installed from its
# tarball into an empty project, its README example typechecked and run). Ends with one
# "N passed, N failed" line summed over all packages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$ROOT/tooling/scripts/bootstrap.sh"
cd "$ROOT"
export VIT_TEST_REPORT_DIR="$ROOT/.cache/test-reports"
rm -rf "$VIT_TEST_REPORT_DIR" && mkdir -p "$VIT_TEST_REPORT_DIR"
status=0
pnpm exec turbo run typecheck --output-logs=errors-only || status=$?
pnpm exec turbo run test --concurrency=1 --continue --output-logs=full || status=$?
bash tooling/scripts/pack-check.sh || status=$?
node tooling/scripts/summarize-tests.mjs "$VIT_TEST_REPORT_DIR" || status=$?
exit $status
