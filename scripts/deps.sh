#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently: Debian packages
# (the real validators and network tools) and Go tools pinned by version.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
packages=(
  iproute2 nftables openssl curl ca-certificates
  cloud-init          # cloud-init schema validates generated user-data
  libblkid-dev        # the real ignition binary (make ignition) links libblkid
  prometheus          # promtool checks generated config and rules
  bind9 bind9-utils bind9-dnsutils  # a real DNS server for the zone
  dnsmasq-base wrk    # benchmarks' reference tools
  systemd             # systemd-analyze verifies the units
  systemd-container mmdebstrap      # image builds and nspawn boots
)
"$root/scripts/apt-install.sh" deps "${packages[@]}"
# bind9's named must not hold port 53 on the host; tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet named 2>/dev/null; then
  systemctl stop named || true
fi
if [[ ! -x "$root/bin/staticcheck" ]]; then
  echo "deps: installing staticcheck"
  GOBIN="$root/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.7.0
fi
echo "deps: ok"
