#!/bin/sh
# The tether system user, the state and log directories, and the service.
set -e
if ! getent group tether >/dev/null; then
	groupadd --system tether
fi
if ! getent passwd tether >/dev/null; then
	useradd --system --gid tether --home-dir /var/lib/tether --no-create-home \
		--shell /usr/sbin/nologin --comment "Tether reverse proxy" tether
fi
install -d -o tether -g tether -m 0750 /var/lib/tether /var/log/tether
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# Enabled, not started: the default config is a placeholder to edit.
	systemctl enable tether.service >/dev/null 2>&1 || true
	# An upgrade restarts a running service with the new binary.
	if systemctl is-active --quiet tether.service; then
		systemctl try-restart tether.service >/dev/null 2>&1 || true
	fi
fi
exit 0
