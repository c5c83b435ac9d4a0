#!/usr/bin/env bash
# Builds SeaweedFS's `weed` from the Go module proxy into
# bin/seaweedfs-VERSION/weed: the real S3-compatible server the object-store
# tests start (internal/s3test). Slow (about 11 minutes on 2 cores, a ~230 MB
# binary before stripping), so it is cached by version: built once per
# machine, and `make test` finds it there afterwards.
set -euo pipefail
version="${1:?usage: build-seaweedfs.sh VERSION (a module version of github.com/seaweedfs/seaweedfs)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
out="$bin/seaweedfs-$version"
stamp="$out/.version"
if [[ -x "$out/weed" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then
  echo "seaweedfs $version already in bin/seaweedfs-$version/"
  exit 0
fi
work="$root/.cache/seaweedfs-build-$version"
mkdir -p "$work" "$out"
cd "$work"
if [[ ! -f go.mod ]]; then
  cat > go.mod <<MOD
module seaweedfsbuild

go 1.25
MOD
fi
echo "building seaweedfs $version from the module proxy (about 11 minutes on 2 cores)..."
export GOFLAGS=-mod=mod
go get "github.com/seaweedfs/seaweedfs@$version"
start=$SECONDS
# Written beside and moved into place, so an interrupted build never leaves a
# half binary that the cache check would take for a whole one.
go build -trimpath -ldflags '-s -w' -o "$out/weed.tmp" github.com/seaweedfs/seaweedfs/weed
mv "$out/weed.tmp" "$out/weed"
echo "$version" > "$stamp"
echo "built in $((SECONDS - start))s: $(du -h "$out/weed" | cut -f1) $out/weed"
"$out/weed" version || true
