#!/usr/bin/env bash
# bench/scaling.sh — the scaling curves of issue 18 from go test -bench:
# members in a balancer, site names (Host and SNI), session table entries,
# proxies in a cluster. Prints one markdown table per benchmark (median over
# COUNT runs, allocs/op, ratio to the smallest size); see bench/README.md.
#
#   bench/scaling.sh                COUNT=5 BENCHTIME=200ms
#   OUT=dir bench/scaling.sh        also keep the raw go test output there
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-200ms}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
go test -run XXX -bench Scale -benchtime "$BENCHTIME" -count "$COUNT" ./routing/ ./proxy/ ./proxy/certs/ >>"$raw"
go test -run XXX -bench ScaleSessionTable -benchtime "$BENCHTIME" -count "$COUNT" ./replication/ >>"$raw"
go test -run XXX -bench ScaleReplicationCPU -benchtime 1x -count "$COUNT" ./replication/ >>"$raw"
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$raw" "$OUT/go-bench.txt"; fi
grep -E '^(FAIL|--- FAIL)' "$raw" && exit 1
go run ./bench/scalecurve <"$raw"
