#!/usr/bin/env bash
# Installs the peers and load generators bench/run.sh compares against
# (Debian packages), as root. Only missing packages are installed. The
# packaged services are stopped and disabled again: the harness starts its
# own instances with generated configs and must find their ports free.
set -euo pipefail

pkgs=(haproxy nginx caddy wrk nghttp2-client apache2-utils)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "bench deps: all installed (${pkgs[*]})"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench deps: missing Debian packages (run as root to install): ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d 101: do not start the packaged daemons while installing.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	for s in haproxy nginx caddy; do
		systemctl disable --now "$s" >/dev/null 2>&1 || true
	done
fi
echo "bench deps: installed ${missing[*]}"
