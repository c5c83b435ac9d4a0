#!/usr/bin/env bash
# Runs every fuzz target of the module (each `func FuzzX` in a _test.go) for
# FUZZTIME each: `make fuzz` (10s each, part of make test) or, on demand,
# `make fuzz FUZZTIME=10m`. With KEEP=1 the inputs the fuzzer found
# interesting are copied from Go's cache into the package's testdata/fuzz/,
# where `go test` replays them as seeds from then on.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
fuzztime="${FUZZTIME:-10s}"
cache="$(go env GOCACHE)/fuzz"
failed=0
# replayOnly names targets whose corpus go test replays in every unit run
# but which are not mutated here: see FuzzStatus's comment (FUZZ_ALL=1
# mutates them too).
replayOnly=" FuzzStatus "
while IFS=: read -r file name; do
  dir="./$(dirname "$file")"
  pkg="$(go list "$dir")"
  if [[ "${FUZZ_ALL:-0}" != 1 && "$replayOnly" == *" $name "* ]]; then
    echo "fuzz: $pkg $name: corpus replayed by go test, not mutated (FUZZ_ALL=1 mutates it)"
    continue
  fi
  echo "fuzz: $pkg $name ($fuzztime)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir" > /tmp/fuzz-$$.log 2>&1; then
    cat /tmp/fuzz-$$.log
    echo "fuzz: $name FAILED; the failing input is in $dir/testdata/fuzz/$name/"
    failed=1
  else
    tail -n 1 /tmp/fuzz-$$.log
  fi
  if [[ "${KEEP:-0}" == 1 && -d "$cache/$pkg/$name" ]]; then
    mkdir -p "$dir/testdata/fuzz/$name"
    cp -n "$cache/$pkg/$name"/* "$dir/testdata/fuzz/$name/" 2>/dev/null || true
  fi
done < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' --exclude-dir=builder . | sed 's/func //; s#^\./##' | sort)
rm -f /tmp/fuzz-$$.log
exit "$failed"
