#!/usr/bin/env bash
# apt-install.sh TAG PACKAGE...: installs the Debian packages not installed
# yet (one apt-get update first, only when something is missing). TAG names
# the caller in its messages. Idempotent.
set -euo pipefail
tag="${1:?usage: apt-install.sh TAG PACKAGE...}"
shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "$tag: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "$tag: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
