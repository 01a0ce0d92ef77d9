#!/usr/bin/env bash
# make release: static, reproducible tether binaries for linux/amd64 and
# linux/arm64 (Graviton) in $DIST (default dist/), and their SHA256SUMS.
#
# Reproducible: the same commit gives the same bytes on any machine with
# the same Go: no cgo, -trimpath (no build paths), the version and commit
# stamped with -X, VCS facts from the commit (-buildvcs), a fixed
# instruction-set level, and none of the caller's GOFLAGS.
# scripts/check-dist.sh builds twice (another path, an empty build cache)
# and compares.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
VERSION=${VERSION:-$(bash scripts/version.sh)}
COMMIT=${COMMIT:-$(git rev-parse HEAD)}
# -buildvcs=true fails outside a git checkout: a source tarball builds
# with the version and commit given in the environment instead.
buildvcs=false
git rev-parse --git-dir >/dev/null 2>&1 && buildvcs=true

mkdir -p "$DIST"
rm -f "$DIST"/tether_*_linux_* "$DIST/SHA256SUMS"
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	out="$DIST/tether_${VERSION#v}_${os}_${arch}"
	env -u GOFLAGS CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" GOAMD64=v1 GOARM64=v8.0 \
		go build -trimpath -buildvcs=$buildvcs \
		-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" \
		-o "$out" ./cmd/tether
	echo "built $out"
done
(cd "$DIST" && sha256sum tether_*_linux_* > SHA256SUMS && cat SHA256SUMS)
