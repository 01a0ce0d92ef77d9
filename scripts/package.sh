#!/usr/bin/env bash
# make package: the tether .deb and .rpm for linux/amd64 and linux/arm64 in
# $DIST, from the binaries make release left there, by nfpm
# (packaging/nfpm.yaml). nfpm is a tool of the tools/ module, pinned by its
# go.mod and go.sum, so the main module's go.mod does not carry it.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
VERSION=${VERSION:-$(bash scripts/version.sh)}
ARCHS=${ARCHS:-amd64 arm64}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go -C tools build -o "$tmp/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm
for arch in $ARCHS; do
	bin="$DIST/tether_${VERSION#v}_linux_${arch}"
	[ -x "$bin" ] || { echo "$bin is missing: run make release first" >&2; exit 1; }
	for fmt in deb rpm; do
		# nfpm expands the environment in some fields only: fill in the
		# three here. It reads the paths in nfpm.yaml from where it runs:
		# the root.
		sed -e "s|\${VERSION}|$VERSION|; s|\${ARCH}|$arch|; s|\${BINARY}|$bin|" packaging/nfpm.yaml > "$tmp/nfpm.yaml"
		"$tmp/nfpm" package --config "$tmp/nfpm.yaml" --packager $fmt --target "$DIST/" >/dev/null
	done
done
ls -l "$DIST"/*.deb "$DIST"/*.rpm
