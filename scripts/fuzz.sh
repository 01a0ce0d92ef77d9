#!/usr/bin/env bash
# Runs every native fuzz target in the module for the given time each.
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 20s)
#
# Go 1.26's fuzz coordinator can end a run with a bare "context deadline
# exceeded" at the -fuzztime boundary, having found nothing (a race between
# its deadline and its workers: go.dev/issue/75804, fixed in Go 1.27). Such a
# run wrote no failing input and printed nothing else wrong; it is run once
# more, and counts as failed only if it fails again. Any other failure, or one
# that wrote a failing input, fails at once.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-20s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# deadline_only: the log's failure is nothing but the coordinator's deadline.
deadline_only() {
	grep -q '^    context deadline exceeded$' "$log" &&
		! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log" &&
		[ "$(grep -c '^--- FAIL' "$log")" = 1 ]
}

status=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		again=""
		for try in 1 2; do
			echo "fuzz $pkg $f ($t)$again"
			if go test -run='^$' -fuzz="^${f}\$" -fuzztime="$t" "$pkg" >"$log" 2>&1; then
				tail -1 "$log"
				break
			fi
			cat "$log"
			if [ "$try" = 1 ] && deadline_only; then
				echo "fuzz $f: only the fuzz coordinator's deadline race (go.dev/issue/75804), nothing found; running it once more"
				again=", again"
				continue
			fi
			status=1
			break
		done
	done
done
exit $status
