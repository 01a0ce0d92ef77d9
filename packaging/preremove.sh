#!/bin/sh
# Stop the service before its binary goes (not on an upgrade).
set -e
case "$1" in
upgrade|1) exit 0 ;; # dpkg: upgrade; rpm: $1 is the count left after, 1 on upgrade
esac
if [ -d /run/systemd/system ]; then
	systemctl disable --now tether.service >/dev/null 2>&1 || true
fi
exit 0
