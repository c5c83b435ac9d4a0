#!/usr/bin/env bash
# Builds Packer at one version from the Go module proxy into bin/packer-VERSION
# and points bin/packer at it. `go install github.com/hashicorp/packer@VERSION`
# is refused here (the proxy answers 403 for packer's version list), so a
# scratch module requires the exact version and builds the main package.
# About 5 minutes on 2 cores; skipped when bin/packer already reports VERSION.
# With --no-link bin/packer is left alone (a second version beside it).
set -euo pipefail
version="${1:?usage: build-packer.sh VERSION [--no-link] (e.g. v1.9.4)}"
link=1
[[ "${2:-}" == "--no-link" ]] && link=0
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
target="$bin/packer-$version"
reports() { [[ -x "$1" ]] && [[ "$("$1" version 2>/dev/null | sed -n 1p)" == "Packer ${version}" ]]; }
if (( link )) && reports "$bin/packer"; then
  echo "packer $version already in bin/"
  exit 0
fi
mkdir -p "$bin"
if ! reports "$target"; then
  work="$root/.cache/packer-build-$version"
  mkdir -p "$work"
  cd "$work"
  if [[ ! -f go.mod ]]; then
    cat > go.mod <<MOD
module packerbuild

go 1.21

require github.com/hashicorp/packer $version
MOD
    # From 1.10 on, Packer's plugin SDK needs the go-cty fork Packer's own
    # go.mod replaces (gob encoding of cty values).
    if [[ "$(printf '%s\n' v1.10.0 "$version" | sort -V | head -n1)" == v1.10.0 ]]; then
      echo 'replace github.com/zclconf/go-cty => github.com/nywilken/go-cty v1.13.3' >> go.mod
    fi
  fi
  echo "building packer $version from the module proxy (about 5 minutes)..."
  GOFLAGS=-mod=mod go build -trimpath -o "$target.tmp" github.com/hashicorp/packer
  mv "$target.tmp" "$target"
fi
if (( link )); then
  ln -sfn "packer-$version" "$bin/packer"
fi
"$target" version | sed -n 1p
