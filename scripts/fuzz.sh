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

# corpus lists the inputs kept in a target's testdata/fuzz (none: empty).
corpus() {
  ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true
}

# deadlineRace says whether a failed run is Go's fuzz coordinator racing its
# own -fuzztime deadline (go.dev/issue/75804, fixed in Go 1.27; this module
# is on 1.26): the only failure printed is a bare "context deadline exceeded",
# no failing input was written, and the target's corpus replays clean.
# Anything else (a crasher, a panic, a t.Fatal) stays a failure.
deadlineRace() {
  local dir="$1" name="$2" before="$3" log=/tmp/fuzz-$$.log
  [[ "$(corpus "$dir" "$name")" == "$before" ]] || return 1
  grep -q '^    context deadline exceeded$' "$log" || return 1
  ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log" || return 1
  go test -run "^${name}\$" -count 1 "$dir" > /dev/null 2>&1
}
while IFS=: read -r file name; do
  dir="./$(dirname "$file")"
  pkg="$(go list "$dir")"
  if [[ "${FUZZ_ALL:-0}" != 1 && "$replayOnly" == *" $name "* ]]; then
    echo "fuzz: $pkg $name: corpus replayed by go test, not mutated (FUZZ_ALL=1 mutates it)"
    continue
  fi
  echo "fuzz: $pkg $name ($fuzztime)"
  before="$(corpus "$dir" "$name")"
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir" > /tmp/fuzz-$$.log 2>&1; then
    tail -n 1 /tmp/fuzz-$$.log
  elif deadlineRace "$dir" "$name" "$before"; then
    echo "fuzz: $name: Go's fuzz coordinator missed its own -fuzztime deadline (go.dev/issue/75804, fixed in Go 1.27);"
    echo "fuzz: $name: no input was written and the corpus replays clean, so this is not a finding"
  else
    cat /tmp/fuzz-$$.log
    echo "fuzz: $name FAILED; the failing input is in $dir/testdata/fuzz/$name/"
    failed=1
  fi
  if [[ "${KEEP:-0}" == 1 && -d "$cache/$pkg/$name" ]]; then
    mkdir -p "$dir/testdata/fuzz/$name"
    cp -n "$cache/$pkg/$name"/* "$dir/testdata/fuzz/$name/" 2>/dev/null || true
  fi
done < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' --exclude-dir=builder . | sed 's/func //; s#^\./##' | sort)
rm -f /tmp/fuzz-$$.log
exit "$failed"
