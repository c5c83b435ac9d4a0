#!/usr/bin/env bash
# bench-report.sh runs etcdboot's benchmarks and ends with one markdown table
# of every figure compared with a bare tool: each ratio metric a benchmark
# reports (b.ReportMetric units such as etcdboot/dnsmasq, speed-vs-etcdctl,
# time-vs-cfssl, agent/bare) as the median of its runs, with min and max.
# Each run alternates etcdboot and the bare tool inside the benchmark; runs
# repeat with -count. The table is printed and written to docs/benchmarks.md
# with the machine, the date and the commit.
#
#   BENCH_COUNT=5       runs of each unit benchmark (-count)
#   BENCH_E2E_COUNT=5   runs of each end-to-end benchmark
#   BENCH_IMAGE=1       also the image benchmarks (make bench-image: slow)
#   BENCH_REPORT=docs/benchmarks.md
#   BENCH_RAW=DIR       keep the raw go test output in DIR
#   BENCH_FROM=DIR      only build the report from raw output already in DIR
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
MAKE=${MAKE:-make}
count=${BENCH_COUNT:-5}
e2e_count=${BENCH_E2E_COUNT:-5}
report=${BENCH_REPORT:-docs/benchmarks.md}
raw=${BENCH_FROM:-${BENCH_RAW:-}}
if [[ -z "$raw" ]]; then
	raw=$(mktemp -d)
	trap 'rm -rf "$raw"' EXIT
fi
mkdir -p "$raw"
failed=()

# run NAME CMD... runs one benchmark set, its output shown and kept.
run() {
	local name=$1
	shift
	echo "== bench-report: $name: $*" >&2
	if ! "$@" 2>&1 | tee "$raw/$name.txt" >&2; then
		failed+=("$name")
	fi
}

if [[ -z "${BENCH_FROM:-}" ]]; then
	# shellcheck disable=SC2046 # package lists split on purpose
	run unit "$GO" test -run '^$' -bench . -benchtime 3x -benchmem -count "$count" $("$GO" list ./... | grep -v /e2e)
	# shellcheck disable=SC2046
	run e2e "$GO" test -p 1 -run '^$' -bench . -benchtime 2x -count "$e2e_count" -timeout 90m $("$GO" list ./e2e/... | grep -v /e2e/image)
	if [[ "${BENCH_IMAGE:-}" == 1 ]]; then
		run image "$MAKE" --no-print-directory bench-image
	fi
fi

# Every "value unit" pair of every benchmark result, as: benchmark unit
# value. A benchmark that prints text has go test put that text after its
# name and its result on a line of its own ("   2   1234 ns/op ..."), so
# the result belongs to the last name seen.
pairs=$(cat "$raw"/*.txt 2>/dev/null | awk '
	{
		rest = $0
		if (rest ~ /^Benchmark/) {
			name = $1; sub(/-[0-9]+$/, "", name)
			sub(/^[^ \t]+[ \t]+/, "", rest)
		}
		sub(/^[ \t]+/, "", rest)
		if (name == "" || rest !~ /^[0-9]+[ \t]+[0-9.e+-]+ ns\/op/) next
		n = split(rest, f, /[ \t]+/)
		for (i = 2; i < n; i += 2) print name, f[i+1], f[i]
		name = ""
	}')

# median min max n of the numbers on stdin.
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%s %s %s %d\n", f(m), f(v[1]), f(v[NR]), NR }
	function f(x) { return (x >= 1000 || x <= -1000) ? sprintf("%.0f", x) : sprintf("%.3g", x) }'
}

# isRatio: a unit comparing two things (a/b, x-vs-y), not a rate (MB/s).
table=$(
	echo "| benchmark | figure | median | min | max | runs | compared with | medians of its other figures |"
	echo "|---|---|---|---|---|---|---|---|"
	echo "$pairs" | awk '{ print $1, $2 }' | sort -u | while read -r bench unit; do
		[[ -z "$bench" ]] && continue
		if [[ "$unit" == *-vs-* ]]; then
			bare=${unit##*-vs-}
		elif [[ "$unit" == */* && "$unit" != */s && "$unit" != */op ]]; then
			bare=${unit##*/}
		elif [[ "$bench" == BenchmarkAgentBinarySize && "$unit" == MB ]]; then
			bare="goal: at most 25 MB (make build's release flags and tags)"
		else
			continue
		fi
		read -r med lo hi n < <(echo "$pairs" | awk -v b="$bench" -v u="$unit" '$1 == b && $2 == u { print $3 }' | stats)
		others=$(echo "$pairs" | awk -v b="$bench" -v u="$unit" '$1 == b && $2 != u && $2 !~ /^(ns|B|allocs)\/op$/ && $2 !~ /-vs-/ && !($2 ~ /\// && $2 !~ /\/s$/) { print $2 }' | sort -u | while read -r other; do
			read -r om _ < <(echo "$pairs" | awk -v b="$bench" -v u="$other" '$1 == b && $2 == u { print $3 }' | stats)
			printf '%s %s, ' "$om" "$other"
		done)
		echo "| ${bench#Benchmark} | $unit | **$med** | $lo | $hi | $n | $bare | ${others%, } |"
	done
)

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` (scripts/bench-report.sh). Each figure is the"
	echo "median of its runs (-count), with min and max; inside a run the"
	echo "benchmark alternates etcdboot and the bare tool it is compared with."
	echo "Ratios named a/b or speed-vs-b are etcdboot over the bare tool (above 1:"
	echo "etcdboot is faster or bigger); time-vs-b is a time ratio (below 1: faster)."
	echo
	echo "- machine: $(uname -srm), $(nproc) CPUs${cpu:+ ($cpu)}"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- commit: $commit"
	echo "- runs: $count per unit benchmark, $e2e_count per end-to-end benchmark$([[ "${BENCH_IMAGE:-}" == 1 ]] && echo ", image benchmarks once (BENCH_IMAGE=1)" || echo "; image benchmarks left out (BENCH_IMAGE=1 adds them)")"
	if ((${#failed[@]})); then
		echo "- failed, figures missing or partial: ${failed[*]}"
	fi
	echo
	echo "$table"
} >"$report"
echo
cat "$report"
((${#failed[@]} == 0))
