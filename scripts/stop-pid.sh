# Sourced by scripts/tomcat.sh and scripts/apache-modjk.sh: stop a process this harness started, by
# the PID its pid file records. The caller has already checked that the PID is still ours (its
# command line names our DIR); nothing here looks a process up by name. Needs a log function.

# children PID: the processes whose parent is PID (httpd's workers, which outlive a killed parent)
children() { local c; for c in /proc/[0-9]*/stat; do awk -v p="$1" '$4 == p {print $1}' "$c" 2>/dev/null; done; }

# stop_pid LABEL PIDFILE HARD [CHILDREN]: SIGTERM, then SIGKILL if still alive after 15 s; HARD
# non-empty: SIGKILL at once. CHILDREN non-empty: the SIGKILL also goes to the PID's children.
# Waits up to 10 s for the PID to go, then removes PIDFILE.
stop_pid() {
	local label="$1" f="$2" hard="$3" with_children="${4:-}" pid i kids=""
	pid="$(cat "$f")"
	if [ -z "$hard" ]; then
		log "$label: kill -TERM $pid"; kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 60); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
	fi
	if [ -d "/proc/$pid" ]; then
		[ -z "$with_children" ] || kids="$(children "$pid")"
		log "$label: kill -KILL $pid ${kids//$'\n'/ }"
		kill -KILL "$pid" 2>/dev/null || true
		# shellcheck disable=SC2086
		[ -z "$kids" ] || kill -KILL $kids 2>/dev/null || true
	fi
	for i in $(seq 1 40); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
	rm -f "$f"
	log "$label: stopped"
}
