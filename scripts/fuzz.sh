#!/usr/bin/env bash
# Runs every native fuzz target in the module for the given time each.
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 20s)
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-20s}
status=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz $pkg $f ($t)"
		if ! go test -run='^$' -fuzz="^${f}\$" -fuzztime="$t" "$pkg" >/tmp/tether-fuzz.log 2>&1; then
			cat /tmp/tether-fuzz.log
			status=1
		else
			tail -1 /tmp/tether-fuzz.log
		fi
	done
done
exit $status
