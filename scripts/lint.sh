#!/usr/bin/env bash
# Static checks: formatting, go vet, staticcheck, a tidy go.mod, and the
# dependency rules between Tether's packages (docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
if ! go mod tidy -diff; then
	echo "go.mod/go.sum are not tidy: run go mod tidy" >&2
	exit 1
fi
# The release tools' own module (nfpm, go-containerregistry): kept out of
# the main go.mod.
go -C tools vet ./...
if ! go -C tools mod tidy -diff; then
	echo "tools/go.mod is not tidy: run go -C tools mod tidy" >&2
	exit 1
fi
# staticcheck is installed by scripts/deps.sh (pinned).
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
if [ -x "$gobin/staticcheck" ]; then
	"$gobin/staticcheck" ./...
else
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
fi

mod=github.com/tether-proxy/tether
# own PKG: the Tether packages PKG depends on (itself excluded).
own() { go list -deps "./$1" | grep "^$mod/" | grep -vx "$mod/$1" || true; }
# forbid PKG PATTERN WHY: fail when PKG depends on a Tether package
# matching the extended regexp PATTERN (relative to the module).
forbid() {
	local bad
	bad=$(own "$1" | sed "s#^$mod/##" | grep -xE "$2" || true)
	if [ -n "$bad" ]; then
		echo "$1 must not import $(echo $bad): $3" >&2
		exit 1
	fi
}

# routing is pure: no I/O packages, no clock, no logging.
bad=$(go list -deps ./routing | grep -v "^$mod/" | grep -xE 'net|net/.*|os|os/.*|io/fs|time|math/rand|math/rand/v2|log|log/slog|github.com/.*|syscall' || true)
if [ -n "$bad" ]; then
	echo "routing imports forbidden packages: $bad" >&2
	exit 1
fi
# config, proxy/ajp and proxy/h1 are stdlib only.
for p in ./config ./proxy/ajp ./proxy/h1; do
	ext=$(go list -deps "$p" | grep -E '^[a-z0-9-]+\.[a-z]+/' | grep -v "^$mod" || true)
	if [ -n "$ext" ]; then
		echo "$p must use the standard library only, imports: $ext" >&2
		exit 1
	fi
done
# The foundations import no other Tether package.
for p in routing membership replication config proxy/ajp proxy/h1 proxy/proxyproto internal/sdnotify; do
	forbid "$p" '.+' "it is a foundation: others build on it"
done
# Dependencies point down: cmd -> internal/node -> proxy/admin -> proxy ->
# {proxy/certs, proxy/proxyproto, proxy/ajp, routing, replication,
# membership, config}.
forbid proxy/certs 'proxy|proxy/admin|internal/node|internal/agent' "TLS sits below the request path"
forbid proxy 'proxy/admin|internal/node|internal/agent' "the request path sits below the admin API and the node"
forbid proxy/admin 'internal/node|internal/agent' "the admin API sits below the node"
for p in internal/node internal/agent; do
	[ -d "$p" ] && forbid "$p" 'bench/.*|examples/.*|internal/testpeers|internal/demoapp' "test and demo helpers stay out of the node"
done
echo "lint ok"
