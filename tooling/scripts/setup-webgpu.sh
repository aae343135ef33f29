#!/usr/bin/env bash
# Makes sure Dawn (npm `webgpu`) can find a WebGPU adapter.
#
# Where a Vulkan driver is already present (a real GPU, or lavapipe installed earlier) this does
# nothing. On Debian/Ubuntu as root with no Vulkan driver, it installs Mesa's lavapipe (a Vulkan driver
# that runs on the CPU) from bookworm-backports: bookworm's own Mesa 22.3 lacks features Dawn needs,
# backports' 25.x works. Anywhere else it prints exactly what is missing and exits 1.
set -euo pipefail

have_vulkan_icd() {
  # A loader plus at least one ICD manifest is what Dawn's Vulkan backend needs.
  # Capture first: `ldconfig -p | grep -q` under pipefail fails when grep exits early (SIGPIPE).
  local libs; libs=$(ldconfig -p 2>/dev/null || true)
  [[ "$libs" == *libvulkan.so.1* ]] || return 1
  if [ -n "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then return 0; fi
  local f
  for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json; do
    [ -e "$f" ] && return 0
  done
  return 1
}

mesa_version() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true
}

# Lavapipe from bookworm (22.3) is too old for Dawn: treat it as missing.
lavapipe_too_old() {
  local v; v=$(mesa_version)
  [ -n "$v" ] || return 1
  case "$v" in 2[0-4].*) return 0 ;; *) return 1 ;; esac
}

if have_vulkan_icd && ! lavapipe_too_old; then
  # Quiet when there is nothing to do: ./vit runs this on every call.
  [ -z "${VIT_SETUP_VERBOSE:-}" ] || echo "setup-webgpu: a Vulkan driver is present ($(mesa_version || true)); nothing to install."
  exit 0
fi

if [ -r /etc/os-release ]; then . /etc/os-release; fi
if [ "${ID:-}" = "debian" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  codename="${VERSION_CODENAME:-bookworm}"
  list=/etc/apt/sources.list.d/vit-backports.list
  if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian ${codename}-backports main" > "$list"
  fi
  echo "setup-webgpu: installing libvulkan1 + mesa-vulkan-drivers from ${codename}-backports (lavapipe, Mesa 25.x)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -t "${codename}-backports" libvulkan1 mesa-vulkan-drivers >/dev/null
  echo "setup-webgpu: installed mesa-vulkan-drivers $(mesa_version)"
  exit 0
fi

if [ "${ID:-}" = "ubuntu" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq libvulkan1 mesa-vulkan-drivers >/dev/null
  exit 0
fi

cat >&2 <<MSG
setup-webgpu: no usable Vulkan driver found, and this script can only install one on Debian/Ubuntu as root.
Missing: the Vulkan loader (libvulkan.so.1) and a Vulkan driver (ICD).
  - With a GPU: install your vendor's Vulkan driver (NVIDIA: the proprietary driver; AMD/Intel: Mesa >= 24).
  - Without a GPU on Debian bookworm (as root):
      echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list
      apt-get update && apt-get install -t bookworm-backports libvulkan1 mesa-vulkan-drivers
  - macOS/Windows: Dawn uses Metal/D3D12 and needs nothing extra.
MSG
exit 1
