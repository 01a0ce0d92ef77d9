#!/usr/bin/env bash
# bench/profile.sh — where Tether's CPU goes under load: one Tether pinned to
# PROXY_CORE (GOMAXPROCS=1) before the two bench backends, a load generator on
# LOAD_CORE, a CPU profile of the whole run (TETHER_CPUPROFILE) and its top
# entries, and req/s per proxy core from the process's own CPU time.
#
#   bench/profile.sh [http|h2] [conns] [seconds]      default: http 32 10
#   TETHER_BIN=/path/to/tether bench/profile.sh        profile another build
#                                                      (before/after: run both)
#   TETHER_ENV="TETHER_MEMBER_CLIENT=net/http" bench/profile.sh
#                                                      net/http's member client
#
# Writes OUT (bench/results/profile-<date>_<time>/): tether.prof, top.txt
# (flat), cum.txt (cumulative), load.txt (wrk or h2load), summary.txt.
# Traffic stays on 127.0.0.1; everything it starts it stops by PID.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SC=${1:-http} C=${2:-32} D=${3:-10}
PROXY_CORE=${PROXY_CORE:-1} LOAD_CORE=${LOAD_CORE:-0} BASE_PORT=${BASE_PORT:-19100}
OUT=${OUT:-$HERE/results/profile-$(date +%Y-%m-%d_%H%M%S)}
mkdir -p "$OUT"
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
(cd "$ROOT" && go build -o "$TMP/backend" ./bench/backend)
BIN=${TETHER_BIN:-}
if [ -z "$BIN" ]; then
	(cd "$ROOT" && go build -o "$TMP/tether" ./cmd/tether)
	BIN=$TMP/tether
fi
B1=$((BASE_PORT + 1)) B2=$((BASE_PORT + 2)) P=$((BASE_PORT + 10))
taskset -c "$LOAD_CORE" "$TMP/backend" -addr "127.0.0.1:$B1" -route tomcat1 >/dev/null 2>&1 &
PIDS+=($!)
taskset -c "$LOAD_CORE" "$TMP/backend" -addr "127.0.0.1:$B2" -route tomcat2 >/dev/null 2>&1 &
PIDS+=($!)
site="http://127.0.0.1:$P" url="http://127.0.0.1:$P/" tls=""
if [ "$SC" = h2 ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/tls.key" \
		-out "$TMP/tls.crt" -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
	site="https://localhost:$P" url="https://localhost:$P/" tls="tls $TMP/tls.crt $TMP/tls.key"
fi
cat >"$TMP/tether.Caddyfile" <<CF
{
	admin off
	log {
		level error
	}
}
$site {
	$tls
	reverse_proxy {
		to tomcat1=http://127.0.0.1:$B1 tomcat2=http://127.0.0.1:$B2
		sticky jvmroute
	}
}
CF
# shellcheck disable=SC2086 # TETHER_ENV is a list of NAME=value words
env ${TETHER_ENV:-} TETHER_CPUPROFILE="$OUT/tether.prof" GOMAXPROCS=1 \
	taskset -c "$PROXY_CORE" "$BIN" run -c "$TMP/tether.Caddyfile" >"$OUT/tether.log" 2>&1 &
TP=$!
PIDS+=("$TP")
for _ in $(seq 100); do curl -sk -o /dev/null "$url" && break; sleep 0.1; done
H="Cookie: JSESSIONID=0123456789ABCDEF0123456789ABCDEF.tomcat1"
load() { # load SECONDS
	if [ "$SC" = h2 ]; then
		taskset -c "$LOAD_CORE" h2load -c"$C" -m1 -D"$1" -H "$H" "$url"
	else
		taskset -c "$LOAD_CORE" wrk -t1 -c"$C" -d"$1"s -H "$H" --latency "$url"
	fi
}
load 2 >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$TP/stat"; }
t0=$(ticks)
load "$D" >"$OUT/load.txt"
t1=$(ticks)
kill -INT "$TP"
wait "$TP" || true
if [ "$SC" = h2 ]; then
	rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$OUT/load.txt")
else
	rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/load.txt")
fi
hz=$(getconf CLK_TCK)
awk -v rps="$rps" -v t="$((t1 - t0))" -v hz="$hz" -v d="$D" -v sc="$SC" -v c="$C" -v bin="$BIN" 'BEGIN {
	cpu = t / hz / d
	printf "%s, %d connections, %ds: %.0f req/s, proxy CPU %.0f%% of a core, %.0f req/s per proxy core, %.1f us of CPU per request (%s)\n",
		sc, c, d, rps, 100 * cpu, rps / cpu, 1e6 * cpu / rps, bin
}' | tee "$OUT/summary.txt"
go tool pprof -top -nodecount=40 "$BIN" "$OUT/tether.prof" >"$OUT/top.txt" 2>/dev/null
go tool pprof -top -cum -nodecount=60 "$BIN" "$OUT/tether.prof" >"$OUT/cum.txt" 2>/dev/null
echo "profile: $OUT"
