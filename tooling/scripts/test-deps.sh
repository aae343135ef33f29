#!/usr/bin/env bash
# System packages that only the test suite needs (./vit does not): tmux for the terminal-screen test of the
# progress bar. Installed with apt-get when running as root and missing; otherwise the tests that need them
# say so and skip. Sourced-safe: never fails the suite by itself.
set -uo pipefail
say() { echo "[vit test setup] $*" >&2; }
want=()
command -v tmux >/dev/null || want+=(tmux)
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
