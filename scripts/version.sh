#!/usr/bin/env bash
# The version a release build stamps: the v* tag at HEAD (v0.1.0), past one
# (v0.1.0-3-g1a2b3c4d5e6f), or, before the first tag, v0.0.0-dev+<commit>;
# ".dirty" is appended when the work tree has uncommitted changes.
set -euo pipefail
cd "$(dirname "$0")/.."
if v=$(git describe --tags --match 'v[0-9]*' --abbrev=12 --dirty=.dirty 2>/dev/null); then
	echo "$v"
	exit 0
fi
v="v0.0.0-dev+$(git rev-parse --short=12 HEAD)"
git diff --quiet HEAD -- 2>/dev/null || v="$v.dirty"
echo "$v"
