#!/usr/bin/env bash
# Installs what scripts/e2e-vm.sh needs besides make deps, idempotently:
# QEMU (system emulator and qemu-img) and xorriso for the NoCloud seed ISO.
# Not part of make deps: only the optional e2e-vm target boots a VM.
set -euo pipefail
packages=(
  qemu-system-x86     # qemu-system-x86_64
  qemu-utils          # qemu-img: a throwaway overlay over the raw image
  xorriso             # the cidata seed ISO
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps-vm: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "deps-vm: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps-vm: ok"
