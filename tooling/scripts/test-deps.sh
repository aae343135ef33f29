#!/usr/bin/env bash
# System packages that only the test suite needs (./vit does not, so it never installs them): tmux for the
# terminal-screen test of the progress bar, Open MPI for @vit/parallel's mpi backend (its addon is compiled
# by the build, so this runs before it), Debian's Chromium for apps/web's browser test
# (setup-chromium.sh). Installed with apt-get when running as root and missing; otherwise the tests that
# need them say so. Never fails the suite by itself.
set -uo pipefail
say() { echo "[vit test setup] $*" >&2; }
want=()
command -v tmux >/dev/null || want+=(tmux)
{ command -v mpicc >/dev/null && command -v mpirun >/dev/null; } || want+=(openmpi-bin libopenmpi-dev)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$ROOT/tooling/scripts/setup-chromium.sh" >&2 || say "could not install chromium: the browser test will fail with the hint"
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  say "installing ${want[*]} (test-only dependencies)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${want[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${want[@]}" >/dev/null 2>&1; } ||
    say "could not install ${want[*]}: the tests that need them will skip"
else
  say "missing ${want[*]} (apt-get install ${want[*]}): the tests that need them will skip"
fi
exit 0
