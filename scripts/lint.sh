#!/usr/bin/env bash
# Static checks: formatting, vet, and the dependency direction of DESIGN.md.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

# routing is pure: no I/O packages, no clock, no logging (DESIGN.md, STYLE.md §1).
bad=$(go list -deps ./routing | grep -v '^github.com/tether-proxy/tether/' | grep -xE 'net|net/.*|os|os/.*|io/fs|time|math/rand|math/rand/v2|log|log/slog|github.com/.*|syscall' || true)
if [ -n "$bad" ]; then
	echo "routing imports forbidden packages: $bad" >&2
	exit 1
fi
# config and proxy/ajp are stdlib only.
for p in ./config ./proxy/ajp; do
	ext=$(go list -deps "$p" | grep -E '^[a-z0-9-]+\.[a-z]+/' | grep -v '^github.com/tether-proxy/tether' || true)
	if [ -n "$ext" ]; then
		echo "$p must use the standard library only, imports: $ext" >&2
		exit 1
	fi
done
# routing, membership and replication do not import each other, proxy or cmd.
for p in routing membership replication; do
	own=$(go list -deps ./$p | grep '^github.com/tether-proxy/tether/' | grep -vx "github.com/tether-proxy/tether/$p" || true)
	if [ -n "$own" ]; then
		echo "$p imports other Tether packages: $own" >&2
		exit 1
	fi
done
echo "lint ok"
