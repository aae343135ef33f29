#!/usr/bin/env bash
# Runs the whole test suite: set-up (bootstrap.sh), the checks that nothing reads outside the checkout
# (check-paths.sh), that no unmarked plain Error is thrown (check-errors.sh) and that the package arrows point
# down with no import cycles (check-deps.sh), every package's vitest suite one package at a time (the GPU
# driver already uses every core), then the pack check (every package packed, installed from its tarball
# into an empty project, its README example typechecked and run) and the GPU suite's dry run on lavapipe
# (pack + gpu.sh + report check). Ends with one "N passed, N failed" line summed over all packages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Test-only system packages first (Open MPI must exist when the build compiles @vit/parallel's addon).
bash "$ROOT/tooling/scripts/test-deps.sh"
VIT_SETUP_NEED_PNPM=1 source "$ROOT/tooling/scripts/bootstrap.sh"
cd "$ROOT"
export VIT_TEST_REPORT_DIR="$ROOT/.cache/test-reports"
rm -rf "$VIT_TEST_REPORT_DIR" && mkdir -p "$VIT_TEST_REPORT_DIR"
status=0
bash tooling/scripts/check-paths.sh || status=$?
bash tooling/scripts/check-errors.sh || status=$?
bash tooling/scripts/check-deps.sh || status=$?
pnpm exec turbo run typecheck --output-logs=errors-only || status=$?
pnpm exec turbo run test --concurrency=1 --continue --output-logs=full || status=$?
bash tooling/scripts/pack-check.sh || status=$?
bash tooling/scripts/gpu-dry-run.sh || status=$?
node tooling/scripts/summarize-tests.mjs "$VIT_TEST_REPORT_DIR" || status=$?
exit $status
