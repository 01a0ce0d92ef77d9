#!/usr/bin/env bash
# make image: Tether's container image as an OCI image layout in a tar file,
# $DIST/tether_<version>_oci.tar, for linux/amd64 and linux/arm64, from the
# binaries make release left in $DIST. No Docker daemon and no registry: the
# image is written on an empty base by tools/image (go-containerregistry,
# pinned by the tools/ module). Load it with
#   podman load -i dist/tether_<version>_oci.tar
#   skopeo copy oci-archive:dist/tether_<version>_oci.tar docker://REGISTRY/tether:<version>
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-dist}
VERSION=${VERSION:-$(bash scripts/version.sh)}
COMMIT=${COMMIT:-$(git rev-parse HEAD)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
args=()
for arch in amd64 arm64; do
	bin="$DIST/tether_${VERSION#v}_linux_${arch}"
	[ -x "$bin" ] || { echo "$bin is missing: run make release first" >&2; exit 1; }
	args+=(-bin "linux/$arch=$(pwd)/$bin")
done
out="$(pwd)/$DIST/tether_${VERSION#v}_oci.tar"
go -C tools run ./image "${args[@]}" -version "$VERSION" -revision "$COMMIT" \
	-created "$SOURCE_DATE_EPOCH" -caddyfile "$(pwd)/packaging/container.Caddyfile" -o "$out"
ls -l "$out"
sha256sum "$out"
