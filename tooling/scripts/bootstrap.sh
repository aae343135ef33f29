#!/usr/bin/env bash
# Brings a fresh machine (Debian/Ubuntu with Node >= 20, as root) to a built workspace: pnpm, node
# modules, a WebGPU driver (lavapipe where no GPU driver exists), and the turbo build. Each step is
# skipped when already done, so wrappers can call this on every run. Sourced by ./vit and ./test.sh, so it
# must leave the caller's working directory alone: `./vit` resolves the user's relative paths (and writes
# runs/) against it. Steps that need the checkout as their directory run in subshells.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PNPM_VERSION="10.34.8"
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="/tmp/xdg-runtime-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi

say() { echo "[vit setup] $*" >&2; }

if ! command -v node >/dev/null; then
  say "Node.js is missing. Install Node >= 20 (e.g. https://nodejs.org or 'apt-get install nodejs' on Debian trixie)."; exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  say "Node $(node --version) is too old: vit needs Node >= 20."; exit 1
fi

stamp="$ROOT/node_modules/.vit-install-stamp"
# pnpm is needed to install, and by ./test.sh; each `pnpm` call costs ~0.5-1 s, so ./vit skips the version
# check when the modules are already installed from the current lockfile.
if [ ! -f "$stamp" ] || [ "$ROOT/pnpm-lock.yaml" -nt "$stamp" ] || [ -n "${VIT_SETUP_NEED_PNPM:-}" ]; then
  if ! command -v pnpm >/dev/null || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
    # corepack cannot fetch pnpm from registries that serve no signatures; npm can.
    say "installing pnpm@$PNPM_VERSION with npm"
    npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || { say "could not install pnpm: run 'npm install -g pnpm@$PNPM_VERSION' (needs access to the npm registry)"; exit 1; }
  fi
fi
if [ ! -f "$stamp" ] || [ "$ROOT/pnpm-lock.yaml" -nt "$stamp" ]; then
  say "installing node modules (pnpm install --frozen-lockfile)"
  (cd "$ROOT" && pnpm install --frozen-lockfile --reporter=silent)
  touch "$stamp"
fi

bash "$ROOT/tooling/scripts/setup-webgpu.sh" >&2

# @vit/data compiles a small libjpeg-turbo binding at build time (3x less CPU per JPEG than sharp). Without
# a C compiler and libjpeg's headers it still builds and decodes through sharp; on Debian/Ubuntu as root,
# install them so that the fast path exists.
have_jpeg_build_deps() {
  command -v cc >/dev/null || return 1
  local inc
  for inc in /usr/include/jpeglib.h /usr/local/include/jpeglib.h /usr/include/*/jpeglib.h; do
    [ -e "$inc" ] && return 0
  done
  return 1
}
if ! have_jpeg_build_deps; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    say "installing gcc + libjpeg headers for @vit/data's native JPEG decoder"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -qq gcc libc6-dev libjpeg-dev >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq gcc libc6-dev libjpeg-dev >/dev/null; }; } ||
      say "could not install gcc/libjpeg-dev: JPEGs will decode through sharp (slower)"
  else
    say "no C compiler or libjpeg headers: JPEGs decode through sharp (slower). For the native decoder: apt-get install gcc libjpeg-dev"
  fi
fi

# The build is quiet when turbo's cache has everything (every ./vit call lands here): its log is shown only
# when it fails, and a notice appears only when it runs long enough (10 s) to be doing real work.
build_log=$(mktemp)
(sleep 10 && say "building the workspace (sources changed since the last build)...") &
notice=$!
if ! (cd "$ROOT" && node_modules/.bin/turbo run build --output-logs=errors-only) >"$build_log" 2>&1; then
  kill "$notice" 2>/dev/null || true
  cat "$build_log" >&2
  rm -f "$build_log"
  say "the build failed (output above)"; exit 1
fi
kill "$notice" 2>/dev/null || true
wait "$notice" 2>/dev/null || true
rm -f "$build_log"
