#!/bin/sh
# On purge, the state (certificates, ACME accounts), logs and user go too.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/lib/tether /var/log/tether
	if getent passwd tether >/dev/null; then
		userdel tether >/dev/null 2>&1 || true
	fi
	if getent group tether >/dev/null; then
		groupdel tether >/dev/null 2>&1 || true
	fi
fi
exit 0
