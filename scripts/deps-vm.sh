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
"$(dirname "$0")/apt-install.sh" deps-vm "${packages[@]}"
echo "deps-vm: ok"
