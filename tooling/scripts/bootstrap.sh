#!/usr/bin/env bash
# Brings a fresh machine (Debian/Ubuntu with Node >= 20, as root) to a built workspace: pnpm, node
# modules, a WebGPU driver (lavapipe where no GPU driver exists), and the turbo build. Each step is
# skipped when already done, so wrappers can call this on every run. Sourced by ./vit and ./test.sh.
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

if ! command -v pnpm >/dev/null || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  # corepack cannot fetch pnpm from registries that serve no signatures; npm can.
  say "installing pnpm@$PNPM_VERSION with npm"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || { say "could not install pnpm: run 'npm install -g pnpm@$PNPM_VERSION' (needs access to the npm registry)"; exit 1; }
fi

cd "$ROOT"
stamp="node_modules/.vit-install-stamp"
if [ ! -f "$stamp" ] || [ pnpm-lock.yaml -nt "$stamp" ]; then
  say "installing node modules (pnpm install --frozen-lockfile)"
  pnpm install --frozen-lockfile --reporter=silent
  touch "$stamp"
fi

bash "$ROOT/tooling/scripts/setup-webgpu.sh" >&2

pnpm exec turbo run build --output-logs=errors-only >&2
