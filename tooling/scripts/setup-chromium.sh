#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed: apps/web's browser test drives /usr/bin/chromium through
# playwright-core (which downloads no browser of its own). Does nothing when it is already there. On
# Debian/Ubuntu as root it runs `apt-get install chromium` (after `apt-get update` when the package lists
# do not know it yet); elsewhere it says what to install and leaves the browser test to fail with that hint.
set -euo pipefail
CHROMIUM="${VIT_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "setup-chromium: installing chromium (apps/web's browser test)..."
  export DEBIAN_FRONTEND=noninteractive
  # Another apt/dpkg run may hold the lock for a while: wait for it rather than fail.
  apt_install() { apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null; }
  apt_install 2>/dev/null || { apt-get -o DPkg::Lock::Timeout=300 update -qq && apt_install; }
  echo "setup-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
  exit 0
fi
echo "setup-chromium: $CHROMIUM is missing; apps/web's browser test needs it: apt-get install chromium (as root)," \
  "or set VIT_CHROMIUM to a Chromium/Chrome binary." >&2
