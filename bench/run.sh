#!/usr/bin/env bash
# bench/run.sh — Tether side by side with HAProxy, nginx and Caddy on loopback.
#
#   bench/run.sh [targets...]        default: direct haproxy nginx caddy tether
#   SCENARIOS=ajp bench/run.sh direct apache-modjk tether
#   TETHER_BASE_REF=b7fe435 bench/run.sh haproxy tether tether-base
#                                    tether-base: Tether built from that git
#                                    revision, beside the working tree's, for
#                                    before/after ratios measured in one run
#   TETHER_BALANCER="max_conns 100000" TETHER_BASE_REF=631f441 \
#     bench/run.sh haproxy tether tether-base
#                                    a directive added to target tether's
#                                    http and https balancers only
#
# Every target sits in front of the same two Go backends (routes tomcat1 and
# tomcat2) with its closest equivalent of jvmRoute stickiness; every request
# carries Cookie: JSESSIONID=<id>.tomcat1, so whatever tomcat2 answers during a
# cell is misrouted. Pinning: the proxy alone on PROXY_CORE; the load
# generator, the backends and this script on LOAD_CORE. All targets stay up;
# each round runs every scenario and concurrency over the targets in turn
# (interleaved), and the summary takes medians over rounds. See bench/README.md.
#
# Scenario "ajp": two real Tomcat 10 nodes (scripts/tomcat.sh, on LOAD_CORE,
# bench/tomcat-webapp as /bench) behind Apache httpd + mod_jk
# (scripts/apache-modjk.sh, target apache-modjk) and Tether (ajp:// members)
# over AJP13 with a secret; direct is tomcat1's HTTP connector. Requests go to
# /bench/hello.jsp with the same tomcat1 cookie; tomcat2's hit count is the
# misrouted count.
#
# Scaling scenarios (issue 18, Tether and tether-base only): "membersN" is the
# http scenario through a balancer of N members (tomcat1, tomcat2, then
# tomcat3.. on the same two backends; the cookie sticks to tomcat1), "sitesN"
# through a site of N host names (one site block, N addresses) with wrk's
# Host the last of them, "wildsitesN" the same with wildcard names
# (*.siteI.bench.test, Host www.site<N-1>.bench.test); each on a port of its own (BASE_PORT+40.. for
# tether, +70.. for tether-base). "table" is the http scenario with Tether's
# session table pre-filled with TABLE_ENTRIES entries (bench/tablefill joins
# Tether's cluster and hands them over); see bench/README.md.
#
# Settings (environment):
#   ROUNDS=3 DURATION=10s WARMUP=2s CONNS="32 256" SCENARIOS="http"
#   BASE_PORT=18100      ports BASE_PORT.. on 127.0.0.1 (backends +1, +2; targets +10..)
#   PROXY_CORE=1 LOAD_CORE=0 WRK_THREADS=1
#   NICE=-20             autogroup nice of the run (its own session); "off" to skip
#   NOISE_MAX=20         re-measure a cell (up to NOISE_RETRIES times) when other
#   NOISE_RETRIES=1      processes used more than this % of a core on the cores
#                        the cell uses (noise_pct); the quietest attempt is kept
#                        in raw.csv, the others go to rejected.csv
#   HS_CLIENT=hsload     handshake scenario client: hsload (bench/hsload) or ab
#   OUT=bench/results/<date>_<time>
#   BENCH_TC_JAVA_OPTS="-Xms256m -Xmx256m -XX:+UseSerialGC"   Tomcat JVMs (ajp)
#   APACHE_SERVERS=2 APACHE_THREADS=128   httpd children x threads (ajp; mod_jk pool = threads)
#   AJP_WARMUP=15s       load on each ajp target before the rounds (Tomcat's JIT)
#   TABLE_ENTRIES=1000000  session entries handed to Tether (scenario table)
#
# Installs nothing: bench/deps.sh installs the peers and load generators (root).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-"32 256"}
SCENARIOS=${SCENARIOS:-http}
BASE_PORT=${BASE_PORT:-18100}
PROXY_CORE=${PROXY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
WRK_THREADS=${WRK_THREADS:-1}
NICE=${NICE:--20}
NOISE_MAX=${NOISE_MAX:-20}
NOISE_RETRIES=${NOISE_RETRIES:-1}
HS_CLIENT=${HS_CLIENT:-hsload}
OUT=${OUT:-$HERE/results/$(date +%Y-%m-%d_%H%M%S)}
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=(direct haproxy nginx caddy tether); fi

# The session id every benchmark request carries (32 hex digits, route tomcat1).
COOKIE="JSESSIONID=0123456789ABCDEF0123456789ABCDEF.tomcat1"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# secs 10s|2m|5 -> whole seconds.
secs() {
	case $1 in
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

# ---------------------------------------------------------------------------
# Priority. CFS shares CPU between autogroups (sessions), so a per-process nice
# would not help against other sessions' builds; run in a session of our own and
# give its autogroup NICE. The outer process only forwards Ctrl-C / TERM.
if [ "$NICE" != off ] && [ -z "${BENCH_SESSION:-}" ] && [ -w /proc/self/autogroup ] &&
	[ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
	BENCH_SESSION=1 setsid -w bash "$0" "$@" &
	child=$!
	trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
	rc=0
	while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
	exit "$rc"
fi
if [ "$NICE" != off ] && [ -n "${BENCH_SESSION:-}" ]; then
	echo "$NICE" >/proc/self/autogroup 2>/dev/null || log "note: could not set autogroup nice $NICE (needs root)"
fi

# ---------------------------------------------------------------------------
# Tools. Say everything that is missing at once.
need=(taskset wrk curl go ss awk)
for t in "${TARGETS[@]}"; do
	case $t in
	direct | tether) ;;
	tether-base) [ -n "${TETHER_BASE_REF:-}" ] || die "target tether-base needs TETHER_BASE_REF (a git revision)" ;;
	haproxy | nginx | caddy) need+=("$t") ;;
	haproxy-noresume) need+=(haproxy) ;;
	apache-modjk) need+=(apache2) ;;
	*) die "unknown target $t (known: direct haproxy nginx caddy tether tether-base apache-modjk haproxy-noresume)" ;;
	esac
done
missing=()
for t in "${need[@]}"; do
	command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
	die "missing tools: ${missing[*]} (run bench/deps.sh as root; Go from https://go.dev/dl)"
fi
PATH=$PATH:/usr/sbin
[ "$(nproc --all)" -gt "$PROXY_CORE" ] && [ "$(nproc --all)" -gt "$LOAD_CORE" ] ||
	die "need cores $LOAD_CORE and $PROXY_CORE (nproc: $(nproc --all))"

# This script and everything it starts run on LOAD_CORE unless moved.
taskset -cp "$LOAD_CORE" $$ >/dev/null

# ---------------------------------------------------------------------------
# Processes. Everything we start is recorded and stopped by PID on exit.
TMP=$(mktemp -d /tmp/tether-bench.XXXXXX)
chmod 755 "$TMP" # nginx workers run as nobody
STARTED=()
LOAD_PID=
SAMPLER_PID=
TOMCAT_DIR= # scripts/tomcat.sh DIR while Tomcat runs (ajp)
APACHE_DIR= # scripts/apache-modjk.sh DIR while Apache runs

# ours PID: PID is a running child of this script (not a zombie, and not a
# reused PID of someone else's process).
ours() {
	[ "$(awk '{sub(/^.*\) /, ""); print ($1 == "Z" ? "" : $2)}' "/proc/$1/stat" 2>/dev/null)" = $$ ]
}

cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	for pid in $LOAD_PID $SAMPLER_PID "${STARTED[@]}"; do
		ours "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in $LOAD_PID $SAMPLER_PID "${STARTED[@]}"; do
		for i in $(seq 50); do ours "$pid" || break; sleep 0.1; done
		ours "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null || true
	# daemons of their own (not our children): stopped by the PIDs their scripts recorded
	[ -z "$APACHE_DIR" ] || bash "$ROOT/scripts/apache-modjk.sh" stop "$APACHE_DIR" >>"$TMP/apache-stop.log" 2>&1 || true
	[ -z "$TOMCAT_DIR" ] || bash "$ROOT/scripts/tomcat.sh" stop "$TOMCAT_DIR" >>"$TMP/tomcat-stop.log" 2>&1 || true
	if [ "$rc" != 0 ] && [ -d "$TMP" ]; then
		log "logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CORE CMD... : start CMD in the background pinned to CORE, logging
# to $TMP/NAME.log; sets PID.
start() {
	local name=$1 core=$2
	shift 2
	taskset -c "$core" "$@" >"$TMP/$name.log" 2>&1 &
	PID=$!
	STARTED+=("$PID")
}

port_free() { [ -z "$(ss -Hltn "sport = :$1")" ]; }

# wait_ok URL [PID]: until it answers (any HTTP status), at most 15 s, or
# until PID exits.
wait_ok() {
	local i
	for i in $(seq 150); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		[ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------------------
# Build.
mkdir -p "$OUT"
log "building backend, summarizer and hsload"
(cd "$ROOT" && go build -o "$TMP/backend" ./bench/backend && go build -o "$TMP/summarize" ./bench/summarize &&
	go build -o "$TMP/hsload" ./bench/hsload)
if [[ " $SCENARIOS " == *" table "* ]]; then
	(cd "$ROOT" && go build -o "$TMP/tablefill" ./bench/tablefill)
fi
declare -A STATUS # target -> ok | skipped: reason
for t in "${TARGETS[@]}"; do STATUS[$t]=ok; done
if [ -n "${STATUS[tether]:-}" ]; then
	log "building tether"
	if ! (cd "$ROOT" && go build -o "$TMP/tether" ./cmd/tether) >"$TMP/tether-build.log" 2>&1; then
		STATUS[tether]="skipped: go build ./cmd/tether failed"
		log "tether: build failed, skipped: $(head -3 "$TMP/tether-build.log" | tr '\n' ' ')"
	fi
fi
if [ -n "${STATUS[tether-base]:-}" ]; then
	log "building tether-base from $TETHER_BASE_REF"
	BASE_REV=$(git -C "$ROOT" rev-parse --short "$TETHER_BASE_REF^{commit}" 2>/dev/null) || die "TETHER_BASE_REF $TETHER_BASE_REF: no such revision"
	mkdir -p "$TMP/base-src"
	if ! { git -C "$ROOT" archive "$BASE_REV" | tar -x -C "$TMP/base-src" &&
		(cd "$TMP/base-src" && go build -o "$TMP/tether-base" ./cmd/tether); } >"$TMP/tether-base-build.log" 2>&1; then
		STATUS[tether-base]="skipped: go build of $BASE_REV failed"
		log "tether-base: build failed, skipped: $(head -3 "$TMP/tether-base-build.log" | tr '\n' ' ')"
	fi
fi

# ---------------------------------------------------------------------------
# Backends: two instances on LOAD_CORE.
B1=$((BASE_PORT + 1))
B2=$((BASE_PORT + 2))
for p in $B1 $B2; do port_free "$p" || die "port $p is in use (set BASE_PORT)"; done
start tomcat1 "$LOAD_CORE" "$TMP/backend" -addr "127.0.0.1:$B1" -route tomcat1
B1PID=$PID
start tomcat2 "$LOAD_CORE" "$TMP/backend" -addr "127.0.0.1:$B2" -route tomcat2
B2PID=$PID
wait_ok "http://127.0.0.1:$B1/_count" && wait_ok "http://127.0.0.1:$B2/_count" ||
	die "backends did not start: $(cat "$TMP/tomcat1.log" "$TMP/tomcat2.log")"

count() { curl -s --max-time 5 "http://127.0.0.1:$1/_count" || echo 0; }

# ---------------------------------------------------------------------------
# Tomcat (scenario ajp): two clustered nodes on LOAD_CORE, like the backends.
# Ports BASE_PORT+3..+8; AJP secret; bench/tomcat-webapp deployed as /bench.
AJP_SECRET=tether-bench-secret
declare -A AJP_PORT
TC_PIDS=()
if [[ " $SCENARIOS " == *" ajp "* ]]; then
	TOMCAT_DIR="$TMP/tomcat"
	log "starting two Tomcat nodes (scripts/tomcat.sh)"
	for p in $((BASE_PORT + 3)) $((BASE_PORT + 4)) $((BASE_PORT + 5)) $((BASE_PORT + 6)) $((BASE_PORT + 7)) $((BASE_PORT + 8)); do
		port_free "$p" || die "port $p is in use (set BASE_PORT)"
	done
	TC1_HTTP=$((BASE_PORT + 3)) TC1_AJP=$((BASE_PORT + 4)) TC2_HTTP=$((BASE_PORT + 6)) TC2_AJP=$((BASE_PORT + 7))
	env AJP_SECRET="$AJP_SECRET" TOMCAT_EXTRA_WEBAPPS="bench=$HERE/tomcat-webapp" \
		TC_JAVA_OPTS="${BENCH_TC_JAVA_OPTS:--Xms256m -Xmx256m -XX:+UseSerialGC}" \
		TC1_HTTP_PORT=$TC1_HTTP TC1_AJP_PORT=$TC1_AJP TC1_TRIBES_PORT=$((BASE_PORT + 5)) \
		TC2_HTTP_PORT=$TC2_HTTP TC2_AJP_PORT=$TC2_AJP TC2_TRIBES_PORT=$((BASE_PORT + 8)) \
		bash "$ROOT/scripts/tomcat.sh" start "$TOMCAT_DIR" >"$TMP/tomcat.ready" 2>"$TMP/tomcat.log" ||
		die "Tomcat did not start: $(tail -5 "$TMP/tomcat.log")"
	mapfile -t TC_PIDS < <(grep -o 'pid=[0-9]*' "$TMP/tomcat.ready" | cut -d= -f2)
	AJP_PORT[direct]=$TC1_HTTP
fi
# hits on tomcat2's /bench page (the misrouted count of the ajp scenario)
count_tc2() { curl -s --max-time 5 "http://127.0.0.1:$TC2_HTTP/bench/hello.jsp?count" || echo 0; }

# ---------------------------------------------------------------------------
# Targets. Each has conf_<t> (writes its config into $TMP) and start_<t> (starts
# it on PROXY_CORE, sets PID); HTTP_PORT[t] is its plain-HTTP listener. A new
# scenario that needs another listener (TLS, h2) adds it to these configs and
# its own port map (HTTPS_PORT...) next to HTTP_PORT.
declare -A HTTP_PORT ROOT_PID
HTTP_PORT[direct]=$B1
HTTP_PORT[haproxy]=$((BASE_PORT + 10))
HTTP_PORT[nginx]=$((BASE_PORT + 11))
HTTP_PORT[caddy]=$((BASE_PORT + 12))
HTTP_PORT[tether]=$((BASE_PORT + 13))
HTTP_PORT[tether-base]=$((BASE_PORT + 17))
HTTP_PORT[haproxy-noresume]=$((BASE_PORT + 16))
# TLS scenarios (https, handshake, h2): one ECDSA P-256 certificate for every
# target that has an HTTPS_PORT, so they do the same cryptography.
declare -A HTTPS_PORT
HTTPS_PORT[haproxy]=$((BASE_PORT + 20))
HTTPS_PORT[nginx]=$((BASE_PORT + 21))
HTTPS_PORT[caddy]=$((BASE_PORT + 22))
HTTPS_PORT[tether]=$((BASE_PORT + 23))
HTTPS_PORT[tether-base]=$((BASE_PORT + 27))
HTTPS_PORT[haproxy-noresume]=$((BASE_PORT + 26))
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost -keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>/dev/null
cat "$TMP/tls.crt" "$TMP/tls.key" >"$TMP/tls.pem"
if [ -n "$TOMCAT_DIR" ]; then
	AJP_PORT[tether]=$((BASE_PORT + 14))
	AJP_PORT[apache-modjk]=$((BASE_PORT + 15))
fi

# Scenario table: Tether (not tether-base) joins a cluster of its own
# (gossip +30, replication +31, admin +34) with bench/tablefill (gossip +32,
# replication +33), which hands it TABLE_ENTRIES session entries of
# balancer "table" and the benchmark session's pin (to tomcat1, its own
# route: every request finds an entry and goes where its id says); the
# scenario's site is on +35.
TABLE_ENTRIES=${TABLE_ENTRIES:-1000000}
declare -A TABLE_PORT
TABLE_GOSSIP=$((BASE_PORT + 30)) TABLE_FILL=$((BASE_PORT + 32)) TABLE_ADMIN=$((BASE_PORT + 34))
if [[ " $SCENARIOS " == *" table "* ]] && [[ " ${TARGETS[*]} " == *" tether "* ]]; then
	[[ $TABLE_ENTRIES =~ ^[0-9]+$ ]] || die "TABLE_ENTRIES: a number"
	TABLE_PORT[tether]=$((BASE_PORT + 35))
	TABLE_KEY=$(head -c 32 /dev/urandom | base64)
	for p in $TABLE_GOSSIP $((TABLE_GOSSIP + 1)) $TABLE_FILL $((TABLE_FILL + 1)) $TABLE_ADMIN; do
		port_free "$p" || die "port $p (table) is in use (set BASE_PORT)"
	done
	log "tablefill: building a table of $TABLE_ENTRIES entries"
	start tablefill "$LOAD_CORE" "$TMP/tablefill" -cluster bench -key "$TABLE_KEY" -bind "127.0.0.1:$TABLE_FILL" \
		-join "127.0.0.1:$TABLE_GOSSIP" -balancer table -n "$TABLE_ENTRIES" -pin "${COOKIE#JSESSIONID=}=tomcat1"
	for i in $(seq 600); do
		grep -q '^tablefill ready' "$TMP/tablefill.log" 2>/dev/null && break
		kill -0 "$PID" 2>/dev/null || die "tablefill failed: $(tail -3 "$TMP/tablefill.log")"
		sleep 0.1
	done
	grep -q '^tablefill ready' "$TMP/tablefill.log" || die "tablefill not ready in 60 s"
fi
supports_table() { [ -n "${TABLE_PORT[$1]:-}" ]; }
load_table() { wrk_run "http://127.0.0.1:${TABLE_PORT[$1]}/" "$2" "$3"; }

# table_wait: until Tether holds the whole table (its admin API's
# sessions.entries), at most 120 s.
table_wait() {
	local i e want=$((TABLE_ENTRIES + 1))
	for i in $(seq 240); do
		e=$(curl -s --max-time 2 "http://127.0.0.1:$TABLE_ADMIN/api/status" | tr -d ' \n\t' | grep -o '"sessions":{"entries":[0-9]*' | grep -o '[0-9]*$')
		[ "${e:-0}" -ge "$want" ] && { log "tether: session table holds $e entries"; return 0; }
		sleep 0.5
	done
	echo "the session table holds ${e:-no} entries of $want after 120 s"
	return 1
}

# haproxy_conf NAME GLOBAL_EXTRA BIND_EXTRA: the HAProxy config of target NAME.
haproxy_conf() {
	cat >"$TMP/$1.cfg" <<EOF
global
	nbthread 1
	maxconn 8192
$2

defaults
	mode http
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	timeout http-keep-alive 60s
	option http-keep-alive
	option forwardfor
	http-reuse always

frontend fe
	bind 127.0.0.1:${HTTP_PORT[$1]}
	bind 127.0.0.1:${HTTPS_PORT[$1]} ssl crt $TMP/tls.pem alpn h2,http/1.1 ssl-min-ver TLSv1.2$3
	http-request set-header X-Forwarded-Proto http if !{ ssl_fc }
	http-request set-header X-Forwarded-Proto https if { ssl_fc }
	default_backend app

backend app
	balance roundrobin
	use-server tomcat1 if { req.cook(JSESSIONID) -m end .tomcat1 }
	use-server tomcat2 if { req.cook(JSESSIONID) -m end .tomcat2 }
	server tomcat1 127.0.0.1:$B1 pool-max-conn 1024
	server tomcat2 127.0.0.1:$B2 pool-max-conn 1024
EOF
}
conf_haproxy() { haproxy_conf haproxy "" ""; }
start_haproxy() { start haproxy "$PROXY_CORE" haproxy -db -f "$TMP/haproxy.cfg"; }

# haproxy-noresume: HAProxy that keeps no TLS sessions at all (no tickets, no
# session cache), so a full handshake costs it no ticket or cache entry. A
# check on the handshake scenario, whose client never resumes anyway, that
# the servers' ticket defaults (OpenSSL 2 tickets per TLS 1.3 handshake, Go 1)
# do not decide the comparison.
conf_haproxy-noresume() { haproxy_conf haproxy-noresume "	tune.ssl.cachesize 0" " no-tls-tickets"; }
start_haproxy-noresume() { start haproxy-noresume "$PROXY_CORE" haproxy -db -f "$TMP/haproxy-noresume.cfg"; }

conf_nginx() {
	mkdir -p "$TMP/nginx"
	cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log error;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/body;
	proxy_temp_path $TMP/nginx/proxy;
	fastcgi_temp_path $TMP/nginx/fastcgi;
	uwsgi_temp_path $TMP/nginx/uwsgi;
	scgi_temp_path $TMP/nginx/scgi;
	keepalive_timeout 60s;
	keepalive_requests 1000000;

	# jvmRoute: the route is the session id's suffix; no session -> round robin.
	map \$cookie_JSESSIONID \$route_upstream {
		~\\.tomcat1\$ tomcat1;
		~\\.tomcat2\$ tomcat2;
		default any;
	}
	upstream tomcat1 { server 127.0.0.1:$B1; keepalive 512; keepalive_requests 1000000; }
	upstream tomcat2 { server 127.0.0.1:$B2; keepalive 512; keepalive_requests 1000000; }
	upstream any {
		server 127.0.0.1:$B1;
		server 127.0.0.1:$B2;
		keepalive 512;
		keepalive_requests 1000000;
	}
	server {
		listen 127.0.0.1:${HTTP_PORT[nginx]};
		listen 127.0.0.1:${HTTPS_PORT[nginx]} ssl http2;
		ssl_certificate $TMP/tls.crt;
		ssl_certificate_key $TMP/tls.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		location / {
			proxy_pass http://\$route_upstream;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto \$scheme;
		}
	}
}
EOF
}
start_nginx() {
	start nginx "$PROXY_CORE" nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log"
}

conf_caddy() {
	mkdir -p "$TMP/caddy"
	cat >"$TMP/caddy/Caddyfile" <<EOF
{
	admin off
	auto_https off
	log {
		level error
	}
}
(routes) {
	@tomcat1 header_regexp Cookie JSESSIONID=[^;]*\.tomcat1(;|$)
	@tomcat2 header_regexp Cookie JSESSIONID=[^;]*\.tomcat2(;|$)
	handle @tomcat1 {
		reverse_proxy 127.0.0.1:$B1 {
			transport http {
				keepalive_idle_conns 512
				keepalive_idle_conns_per_host 512
			}
		}
	}
	handle @tomcat2 {
		reverse_proxy 127.0.0.1:$B2 {
			transport http {
				keepalive_idle_conns 512
				keepalive_idle_conns_per_host 512
			}
		}
	}
	handle {
		reverse_proxy 127.0.0.1:$B1 127.0.0.1:$B2 {
			lb_policy round_robin
			transport http {
				keepalive_idle_conns 512
				keepalive_idle_conns_per_host 512
			}
		}
	}
}
http://127.0.0.1:${HTTP_PORT[caddy]} {
	import routes
}
https://localhost:${HTTPS_PORT[caddy]} {
	tls $TMP/tls.crt $TMP/tls.key
	import routes
}
EOF
}

start_caddy() {
	start caddy "$PROXY_CORE" env GOMAXPROCS=1 HOME="$TMP/caddy" \
		XDG_CONFIG_HOME="$TMP/caddy" XDG_DATA_HOME="$TMP/caddy" \
		caddy run --config "$TMP/caddy/Caddyfile" --adapter caddyfile
}

# Tether's own config syntax (Caddyfile.example). tether-base (the build of
# TETHER_BASE_REF) runs the same config on its own ports.
conf_tether() {
	local t=${1:-tether} global="admin off" extra=""
	# TETHER_BALANCER: lines for the http and https balancers of target
	# tether only (not tether-base), e.g. "max_conns 100000" to measure
	# what the limiter costs against a build without it.
	if [ "$t" = tether ] && [ -n "${TETHER_BALANCER:-}" ]; then
		extra=$(printf '\n\t\t%s' "$TETHER_BALANCER")
	fi
	if [ -n "${TABLE_PORT[$t]:-}" ]; then
		global="admin 127.0.0.1:$TABLE_ADMIN
	cluster bench {
		bind 127.0.0.1:$TABLE_GOSSIP
		gossip_key $TABLE_KEY
		profile local
		discover static 127.0.0.1:$TABLE_FILL
	}"
	fi
	cat >"$TMP/$t.Caddyfile" <<EOF
{
	$global
	log {
		level error
	}
}
http://127.0.0.1:${HTTP_PORT[$t]} {
	reverse_proxy {
		to tomcat1=http://127.0.0.1:$B1 tomcat2=http://127.0.0.1:$B2
		sticky jvmroute$extra
	}
}
https://localhost:${HTTPS_PORT[$t]} {
	tls $TMP/tls.crt $TMP/tls.key
	reverse_proxy {
		to tomcat1=http://127.0.0.1:$B1 tomcat2=http://127.0.0.1:$B2
		sticky jvmroute$extra
	}
}
EOF
	for s in "${SCALE[@]}"; do scale_conf "$s" "${SCALE_PORT[$t/$s]}" >>"$TMP/$t.Caddyfile"; done
	if [ -n "${TABLE_PORT[$t]:-}" ]; then
		cat >>"$TMP/$t.Caddyfile" <<EOF
http://127.0.0.1:${TABLE_PORT[$t]} {
	reverse_proxy {
		name table
		to tomcat1=http://127.0.0.1:$B1 tomcat2=http://127.0.0.1:$B2
		sticky jvmroute
	}
}
EOF
	fi
	[ -n "${AJP_PORT[$t]:-}" ] || return 0
	cat >>"$TMP/$t.Caddyfile" <<EOF
http://127.0.0.1:${AJP_PORT[$t]} {
	reverse_proxy {
		to tomcat1=ajp://127.0.0.1:$TC1_AJP tomcat2=ajp://127.0.0.1:$TC2_AJP
		sticky jvmroute
		ajp_secret $AJP_SECRET
		max_idle_conns 512
	}
}
EOF
}
start_tether() {
	local t=${1:-tether}
	start "$t" "$PROXY_CORE" env GOMAXPROCS=1 \
		"$TMP/$t" run -c "$TMP/$t.Caddyfile" --ready-file "$TMP/$t.ready"
}
conf_tether-base() { conf_tether tether-base; }
start_tether-base() { start_tether tether-base; }

# Apache httpd + mod_jk (scenario ajp): scripts/apache-modjk.sh, the same
# workers.properties as the e2e tests, access log off. It daemonizes; ROOT_PID
# is its parent process (CPU and memory count its children too).
conf_apache-modjk() { APACHE_DIR="$TMP/apache"; }
start_apache-modjk() {
	env APACHE_PORT="${AJP_PORT[apache-modjk]}" TC1_AJP_PORT="$TC1_AJP" TC2_AJP_PORT="$TC2_AJP" \
		AJP_SECRET="$AJP_SECRET" JK_ACCESS_LOG=off JK_LOG_LEVEL=error \
		APACHE_SERVERS="${APACHE_SERVERS:-2}" APACHE_THREADS="${APACHE_THREADS:-128}" \
		taskset -c "$PROXY_CORE" bash "$ROOT/scripts/apache-modjk.sh" start "$APACHE_DIR" \
		>"$TMP/apache-modjk.ready" 2>"$TMP/apache-modjk.log" || true
	PID=$(grep -o 'pid=[0-9]*' "$TMP/apache-modjk.ready" | cut -d= -f2)
	# httpd detaches into a session (autogroup) of its own: give it ours' priority
	if [ -n "$PID" ] && [ "$NICE" != off ]; then
		echo "$NICE" >"/proc/$PID/autogroup" 2>/dev/null || log "note: could not set httpd's autogroup nice"
	fi
}

# route URL [COOKIE] -> the X-Route of the answer ("" if none); with
# SETCOOKIE=file, the answer's JSESSIONID=value is written there.
route() {
	local hdrs
	hdrs=$(curl -sk --max-time 5 -o /dev/null -D - ${2:+-H "Cookie: $2"} "$1" | tr -d '\r') || true
	[ -n "${SETCOOKIE:-}" ] && awk -F'[:;] *' 'tolower($1)=="set-cookie" {print $2}' <<<"$hdrs" >"$SETCOOKIE"
	awk -F': *' 'tolower($1)=="x-route" {print $2}' <<<"$hdrs"
}

# preflight TARGET: both routes stick, cookieless requests reach both backends,
# and a new session's cookie sticks to the backend that issued it.
preflight() {
	local t=$1 url="http://127.0.0.1:${HTTP_PORT[$1]}/" r i seen="" c
	for r in tomcat1 tomcat2; do
		[ "$t" = direct ] && [ $r = tomcat2 ] && continue
		for i in 1 2 3; do
			c=$(route "$url" "JSESSIONID=ABCDEF$i.$r")
			[ "$c" = "$r" ] || { echo "cookie .$r reached '${c:-no answer}'"; return 1; }
		done
		if [ -n "${HTTPS_PORT[$t]:-}" ]; then
			c=$(route "https://localhost:${HTTPS_PORT[$t]}/" "JSESSIONID=ABCDEF.$r")
			[ "$c" = "$r" ] || { echo "https: cookie .$r reached '${c:-no answer}'"; return 1; }
		fi
	done
	[ "$t" = direct ] && return 0
	for i in 1 2 3 4 5 6 7 8; do
		c=$(SETCOOKIE="$TMP/setcookie" route "$url")
		case " $seen " in *" $c "*) ;; *) seen="$seen $c" ;; esac
		r=$(route "$url" "$(cat "$TMP/setcookie")")
		[ -n "$c" ] && [ "$r" = "$c" ] || {
			echo "new session from '$c' then went to '$r'"
			return 1
		}
	done
	case $seen in *tomcat1*tomcat2* | *tomcat2*tomcat1*) ;; *)
		echo "cookieless requests reached only:$seen"
		return 1
		;;
	esac
}

# ---------------------------------------------------------------------------
# Measurement. CPU from /proc in clock ticks; memory sampled once a second.
HZ=$(getconf CLK_TCK)

# tree ROOTPID -> the PID and all its descendants.
tree() {
	ps -e -o pid=,ppid= | awk -v r="$1" '
		{ parent[$1] = $2 }
		END {
			in_tree[r] = 1
			do {
				grew = 0
				for (p in parent) if (!(p in in_tree) && (parent[p] in in_tree)) { in_tree[p] = 1; grew = 1 }
			} while (grew)
			for (p in in_tree) print p
		}'
}

# ticks PID... -> utime+stime of these processes (all their threads).
ticks() {
	[ $# -gt 0 ] || { echo 0; return; }
	local f=()
	for p in "$@"; do [ -r "/proc/$p/stat" ] && f+=("/proc/$p/stat"); done
	[ ${#f[@]} -gt 0 ] || { echo 0; return; }
	awk '{sub(/^.*\) /, ""); t += $12 + $13} END {print t + 0}' "${f[@]}" 2>/dev/null || echo 0
}

# self_ticks -> this script plus its reaped children (the load generator).
self_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' /proc/$$/stat; }

# cpustat -> "busy steal" ticks of the load core, then of the proxy core.
cpustat() {
	awk -v l="cpu$LOAD_CORE" -v p="cpu$PROXY_CORE" '
		$1 == l {lb = $2 + $3 + $4 + $7 + $8; ls = $9}
		$1 == p {pb = $2 + $3 + $4 + $7 + $8; ps = $9}
		END {print lb, ls, pb, ps}' /proc/stat
}

# sampler PID... : append "rss_kib pss_kib" of the processes every second.
sampler() {
	local out=$1 files=() p
	shift
	for p in "$@"; do files+=("/proc/$p/smaps_rollup"); done
	while :; do
		awk '/^Rss:/ {r += $2} /^Pss:/ {s += $2} END {print r + 0, s + 0}' "${files[@]}" >>"$out" 2>/dev/null || true
		sleep 1
	done
}

# ---------------------------------------------------------------------------
# Scenarios. load_<scenario> TARGET CONNS DURATION runs the load generator in
# the background as LOAD_PID (so a signal stops it at once), waits, and writes
# one line to $TMP/load.result:
#   requests duration_s errors p50_ms p99_ms
# (nothing if the load generator failed); supports_<scenario> TARGET says whether the target serves it. To add
# https / h2 / handshake scenarios: add the listeners to the conf_ functions, a
# preflight if needed, and a load_/supports_ pair here (h2load, ab).

# wrk: every request carries the tomcat1 session; done() prints one line that
# needs no parsing of wrk's human output. No response() hook: it would make wrk
# parse every response in Lua and slow the load generator.
cat >"$TMP/wrk.lua" <<EOF
wrk.headers["Cookie"] = "$COOKIE"

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("WRK %d %.6f %d %.3f %.3f\n",
		summary.requests, summary.duration / 1e6,
		e.connect + e.read + e.write + e.status + e.timeout,
		latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF

# wrk_run URL CONNS DURATION [HOST]
wrk_run() {
	local d
	d=$(secs "$3")
	timeout -k 5 $((d + 30)) taskset -c "$LOAD_CORE" wrk -t"$WRK_THREADS" -c"$2" -d"$3" --timeout 5s \
		${4:+-H "Host: $4"} -s "$TMP/wrk.lua" "$1" >"$TMP/wrk.out" 2>&1 &
	LOAD_PID=$!
	wait "$LOAD_PID" || true
	LOAD_PID=
	awk '$1 == "WRK" {print $2, $3, $4, $5, $6}' "$TMP/wrk.out" >"$TMP/load.result"
}

supports_http() { [ -n "${HTTP_PORT[$1]:-}" ]; }
load_http() { wrk_run "http://127.0.0.1:${HTTP_PORT[$1]}/" "$2" "$3"; }

# https: HTTP/1.1 keep-alive over TLS (wrk negotiates http/1.1).
supports_https() { [ -n "${HTTPS_PORT[$1]:-}" ]; }
load_https() { wrk_run "https://localhost:${HTTPS_PORT[$1]}/" "$2" "$3"; }

# handshake: every request on a new connection with a full TLS handshake, so
# req/s = handshakes/s. The client never resumes a session (no session
# cache), so every target does full handshakes whatever tickets it issues;
# wrk with Connection: close and h2load would resume. HS_CLIENT=hsload
# (default, bench/hsload: Go, TLS 1.3 + X25519 like ab, TCP_NODELAY, less
# client CPU per connection) or ab (single-threaded OpenSSL 3.0 without -k,
# the client of the first runs: it became the bottleneck). Both on LOAD_CORE.
supports_handshake() { supports_https "$1"; }
load_handshake() {
	local d
	d=$(secs "$3")
	if [ "$HS_CLIENT" = ab ]; then
		timeout -k 5 $((d + 30)) taskset -c "$LOAD_CORE" ab -q -c "$2" -t "$d" -n 100000000 -s 5 \
			-H "Cookie: $COOKIE" "https://localhost:${HTTPS_PORT[$1]}/" >"$TMP/ab.out" 2>&1 &
		LOAD_PID=$!
		wait "$LOAD_PID" || true
		LOAD_PID=
		awk '/^Complete requests:/ {n = $3} /^Failed requests:/ {f = $3} /^Non-2xx responses:/ {x = $3}
			/^Time taken for tests:/ {t = $5} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
			END {if (t > 0) printf "%d %.6f %d %.3f %.3f\n", n, t, f + x, p50, p99}' "$TMP/ab.out" >"$TMP/load.result"
		return
	fi
	timeout -k 5 $((d + 30)) taskset -c "$LOAD_CORE" env GOMAXPROCS=1 "$TMP/hsload" -c "$2" -d "${d}s" \
		-H "Cookie: $COOKIE" "https://localhost:${HTTPS_PORT[$1]}/" >"$TMP/hsload.out" 2>&1 &
	LOAD_PID=$!
	wait "$LOAD_PID" || true
	LOAD_PID=
	awk '$1 == "HSLOAD" {print $2, $3, $4, $5, $6}' "$TMP/hsload.out" >"$TMP/load.result"
	# what was negotiated, and that no connection resumed a session
	awk -v t="$1" -v c="$2" '$1 == "HSLOAD-TLS" {$1 = ""; print t, c "" $0}' "$TMP/hsload.out" >>"$OUT/handshake-tls.txt"
}

# h2: HTTP/2 over TLS with h2load; CONNS concurrent streams, 10 per
# connection. h2load reports no percentiles: the p50 column holds the mean
# request time and p99 the maximum.
supports_h2() { supports_https "$1"; }
load_h2() {
	local d clients=$((($2 + 9) / 10))
	d=$(secs "$3")
	timeout -k 5 $((d + 30)) taskset -c "$LOAD_CORE" h2load -t"$WRK_THREADS" -c"$clients" -m10 -D"$d" \
		-H "cookie: $COOKIE" "https://localhost:${HTTPS_PORT[$1]}/" >"$TMP/h2load.out" 2>&1 &
	LOAD_PID=$!
	wait "$LOAD_PID" || true
	LOAD_PID=
	grep -q 'Application protocol: h2' "$TMP/h2load.out" || return 0
	awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/^finished in/ {sub(/s,$/, "", $3); dur = $3}
		/^requests:/ {ok = $8; err = $10 + $12 + $14}
		/^time for request:/ {mean = ms($6); mx = ms($5)}
		END {if (dur > 0) printf "%d %.6f %d %.3f %.3f\n", ok, dur, err, mean, mx}' "$TMP/h2load.out" >"$TMP/load.result"
}

supports_ajp() { [ -n "${AJP_PORT[$1]:-}" ]; }
load_ajp() { wrk_run "http://127.0.0.1:${AJP_PORT[$1]}/bench/hello.jsp" "$2" "$3"; }

# node URL [COOKIE] -> the node= line of a /bench/hello.jsp answer
node() { curl -s --max-time 5 ${2:+-H "Cookie: $2"} "$1" | awk -F= '$1 == "node" {print $2}'; }

# preflight_ajp TARGET: both routes stick, cookieless requests reach both nodes.
preflight_ajp() {
	local url="http://127.0.0.1:${AJP_PORT[$1]}/bench/hello.jsp" r i c seen=""
	for r in tomcat1 tomcat2; do
		[ "$1" = direct ] && [ $r = tomcat2 ] && continue
		for i in 1 2 3; do
			c=$(node "$url" "JSESSIONID=ABCDEF$i.$r")
			[ "$c" = "$r" ] || { echo "cookie .$r reached '${c:-no answer}'"; return 1; }
		done
	done
	[ "$1" = direct ] && return 0
	for i in 1 2 3 4 5 6; do seen="$seen $(node "$url")"; done
	case $seen in *tomcat1*tomcat2* | *tomcat2*tomcat1*) ;; *)
		echo "cookieless requests reached only:$seen"
		return 1
		;;
	esac
}

# Scaling scenarios: membersN and sitesN get a listener of their own on
# Tether (SCALE_PORT[target/scenario]); load_/supports_ are made per name.
declare -A SCALE_PORT
SCALE=()
for s in $SCENARIOS; do
	[[ $s =~ ^(members|sites|wildsites)([0-9]+)$ ]] || continue
	n=${BASH_REMATCH[2]}
	[ "$n" -ge 1 ] && [ "$n" -le 100000 ] || die "scenario $s: N must be 1..100000"
	[ "${BASH_REMATCH[1]}" != members ] || [ "$n" -ge 2 ] || die "scenario $s: a balancer has at least 2 members (tomcat1, tomcat2)"
	[ ${#SCALE[@]} -lt 30 ] || die "at most 30 members/sites scenarios in one run"
	SCALE_PORT[tether/$s]=$((BASE_PORT + 40 + ${#SCALE[@]}))
	SCALE_PORT[tether-base/$s]=$((BASE_PORT + 70 + ${#SCALE[@]}))
	SCALE+=("$s")
	eval "supports_$s() { [ -n \"\${SCALE_PORT[\$1/$s]:-}\" ]; }; load_$s() { load_scale $s \"\$@\"; }"
done

# scale_host SCENARIO -> the Host wrk sends ("" for membersN): the last of
# the site's names, so a lookup that scanned them would pay for all.
scale_host() {
	case $1 in
	sites*) echo "site$((${1#sites} - 1)).bench.test" ;;
	wildsites*) echo "www.site$((${1#wildsites} - 1)).bench.test" ;;
	esac
}
# load_scale SCENARIO TARGET CONNS DURATION
load_scale() { wrk_run "http://127.0.0.1:${SCALE_PORT[$2/$1]}/" "$3" "$4" "$(scale_host "$1")"; }

# scale_conf SCENARIO PORT: the site block of a scaling scenario.
scale_conf() {
	local s=$1 port=$2 n i
	case $s in
	members*)
		n=${s#members}
		echo "http://127.0.0.1:$port {"
		echo "	reverse_proxy {"
		echo "		to tomcat1=http://127.0.0.1:$B1 tomcat2=http://127.0.0.1:$B2"
		for ((i = 3; i <= n; i++)); do
			echo "		to tomcat$i=http://127.0.0.1:$((i % 2 ? B1 : B2))"
		done
		;;
	sites* | wildsites*)
		n=${s##*sites} w=
		[[ $s == wild* ]] && w="*."
		for ((i = 0; i < n - 1; i++)); do echo "http://${w}site$i.bench.test:$port,"; done
		echo "http://${w}site$((n - 1)).bench.test:$port {"
		echo "	reverse_proxy {"
		echo "		to tomcat1=http://127.0.0.1:$B1 tomcat2=http://127.0.0.1:$B2"
		;;
	esac
	echo "		sticky jvmroute"
	echo "	}"
	echo "}"
}

for s in $SCENARIOS; do
	declare -F "load_$s" >/dev/null || die "unknown scenario $s (known: http https handshake h2 ajp table membersN sitesN wildsitesN)"
done

# ---------------------------------------------------------------------------
# Start the targets and check them.
for t in "${TARGETS[@]}"; do
	[ "${STATUS[$t]}" = ok ] || continue
	[ "$t" = direct ] && continue
	for p in ${HTTP_PORT[$t]:-} ${HTTPS_PORT[$t]:-} ${AJP_PORT[$t]:-} ${TABLE_PORT[$t]:-}; do
		port_free "$p" || die "port $p ($t) is in use (set BASE_PORT)"
	done
	for s in "${SCALE[@]}"; do
		p=${SCALE_PORT[$t/$s]:-}
		[ -z "$p" ] || port_free "$p" || die "port $p ($t, $s) is in use (set BASE_PORT)"
	done
	"conf_$t"
	"start_$t"
	ROOT_PID[$t]=$PID
done
for t in "${TARGETS[@]}"; do
	[ "${STATUS[$t]}" = ok ] || continue
	if [ -n "${HTTP_PORT[$t]:-}" ]; then
		url="http://127.0.0.1:${HTTP_PORT[$t]}/"
	else
		url="http://127.0.0.1:${AJP_PORT[$t]:-0}/bench/hello.jsp"
	fi
	if { [ "$t" != direct ] && [ -z "${ROOT_PID[$t]:-}" ]; } || ! wait_ok "$url" "${ROOT_PID[$t]:-}"; then
		STATUS[$t]="skipped: did not start"
		log "$t: did not start, skipped: $(tail -3 "$TMP/$t.log" 2>/dev/null | tr '\n' ' ')"
		continue
	fi
	if [ -n "${HTTP_PORT[$t]:-}" ] && ! why=$(preflight "$t"); then
		STATUS[$t]="skipped: preflight: $why"
		log "$t: preflight failed, skipped: $why"
		continue
	fi
	if [ -n "${AJP_PORT[$t]:-}" ] && ! why=$(preflight_ajp "$t"); then
		STATUS[$t]="skipped: ajp preflight: $why"
		log "$t: ajp preflight failed, skipped: $why"
		continue
	fi
	why=
	for s in "${SCALE[@]}"; do
		"supports_$s" "$t" || continue
		h=$(scale_host "$s")
		c=$(curl -s --max-time 5 -o /dev/null -D - ${h:+-H "Host: $h"} -H "Cookie: $COOKIE" "http://127.0.0.1:${SCALE_PORT[$t/$s]}/" |
			tr -d '\r' | awk -F': *' 'tolower($1)=="x-route" {print $2}')
		[ "$c" = tomcat1 ] || { why="$s: cookie .tomcat1 reached '${c:-no answer}'"; break; }
	done
	if [ -z "$why" ] && [ -n "${TABLE_PORT[$t]:-}" ]; then
		why=$(table_wait) || true
		c=$(curl -s --max-time 5 "http://127.0.0.1:$TABLE_ADMIN/api/sessions?balancer=table&id=${COOKIE#JSESSIONID=}")
		[ -n "$why" ] || [[ $(tr -d ' \n\t' <<<"$c") == *'"entry":{'* ]] || why="table: the benchmark session has no entry: $c"
	fi
	if [ -n "$why" ]; then
		STATUS[$t]="skipped: preflight: $why"
		log "$t: preflight failed, skipped: $why"
		continue
	fi
	log "$t: preflight ok (port ${HTTP_PORT[$t]:-}${AJP_PORT[$t]:+ ajp front ${AJP_PORT[$t]}}${SCALE[*]:+; ${SCALE[*]}})"
done

# ---------------------------------------------------------------------------
# Record the environment.
{
	echo "date: $(date -Is)"
	echo "command: ${BENCH_CMD:-bench/run.sh} ${TARGETS[*]}"
	[[ " $SCENARIOS " != *" table "* ]] || echo "table: TABLE_ENTRIES=$TABLE_ENTRIES (bench/tablefill), balancer table, the benchmark session pinned to tomcat1"
	echo "settings: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=\"$CONNS\" SCENARIOS=\"$SCENARIOS\" WRK_THREADS=$WRK_THREADS PROXY_CORE=$PROXY_CORE LOAD_CORE=$LOAD_CORE NICE=$NICE NOISE_MAX=$NOISE_MAX NOISE_RETRIES=$NOISE_RETRIES HS_CLIENT=$HS_CLIENT${TETHER_BALANCER:+ TETHER_BALANCER=\"$TETHER_BALANCER\"}"
	echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || echo ' (dirty)')"
	echo "machine: $(nproc --all) cpus, $(lscpu | awk -F': *' '/^Model name/ {m=$2} /^CPU family/ {f=$2} /^Model:/ {n=$2} END {print m, "family", f, "model", n}'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
	echo "kernel: $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "go: $(go version)"
	for t in "${TARGETS[@]}"; do
		case $t in
		haproxy | haproxy-noresume) echo "$t: $(haproxy -v | head -1)" ;;
		nginx) echo "nginx: $(nginx -v 2>&1)" ;;
		caddy) echo "caddy: $(caddy version)" ;;
		apache-modjk) echo "apache-modjk: $(/usr/sbin/apache2 -v | head -1), $(dpkg-query -W -f='libapache2-mod-jk ${Version}' libapache2-mod-jk 2>/dev/null), ${APACHE_SERVERS:-2} children x ThreadsPerChild ${APACHE_THREADS:-128}" ;;
		tether)
			echo "tether: built from the working tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)," \
				"$(git -C "$ROOT" status --porcelain -- cmd proxy config routing membership replication 2>/dev/null | wc -l) files changed or new"
			;;
		tether-base) echo "tether-base: built from $TETHER_BASE_REF ($BASE_REV)" ;;
		esac
		echo "status $t: ${STATUS[$t]}"
	done
	echo "wrk: $(wrk -v 2>&1 | head -1)"
	[ -z "$TOMCAT_DIR" ] || echo "tomcat (ajp): $(dpkg-query -W -f='tomcat10 ${Version}' tomcat10 2>/dev/null), $(java -version 2>&1 | head -1), TC_JAVA_OPTS=${BENCH_TC_JAVA_OPTS:--Xms256m -Xmx256m -XX:+UseSerialGC}, on core $LOAD_CORE"
} >"$OUT/env.txt"
for t in "${TARGETS[@]}"; do echo "$t,${STATUS[$t]}"; done >"$OUT/status.csv"

# ---------------------------------------------------------------------------
# measure ROUND SCENARIO CONNS TARGET -> appends one row to raw.csv (or
# rejected.csv when the cell was noisy and will be retried). Runs in the main
# shell, not in $(...), so that signals and cleanup reach what it started.
HEADER="round,scenario,conns,target,attempt,start,requests,duration_s,rps,p50_ms,p99_ms,errors,misrouted,proxy_cpu_pct,rps_per_proxy_core,rss_mib,pss_mib,backend_cpu_pct,loadgen_cpu_pct,foreign_load_pct,foreign_proxy_pct,noise_pct,steal_pct"
echo "$HEADER" >"$OUT/raw.csv"
echo "$HEADER" >"$OUT/rejected.csv"

measure_once() {
	local round=$1 sc=$2 conns=$3 t=$4 attempt=$5 pids=() bpids=() line start
	if [ "$t" != direct ]; then mapfile -t pids < <(tree "${ROOT_PID[$t]}"); fi
	bpids=("$B1PID" "$B2PID")
	local m0 m1 mcount="count $B2"
	if [ "$sc" = ajp ]; then bpids=("${TC_PIDS[@]}") mcount=count_tc2; fi
	m0=$($mcount)
	"load_$sc" "$t" "$conns" "$WARMUP"
	start=$(date +%H:%M:%S)
	: >"$TMP/mem"
	if [ ${#pids[@]} -gt 0 ]; then
		sampler "$TMP/mem" "${pids[@]}" &
		SAMPLER_PID=$!
	fi
	local w0 c0 p0 b0 s0 w1 c1 p1 b1 s1
	w0=$(date +%s%N) c0=$(cpustat) p0=$(ticks "${pids[@]}") b0=$(ticks "${bpids[@]}") s0=$(self_ticks)
	"load_$sc" "$t" "$conns" "$DURATION"
	w1=$(date +%s%N) c1=$(cpustat) p1=$(ticks "${pids[@]}") b1=$(ticks "${bpids[@]}")
	if [ -n "$SAMPLER_PID" ]; then
		kill "$SAMPLER_PID" 2>/dev/null || true
		wait "$SAMPLER_PID" 2>/dev/null || true
		SAMPLER_PID=
	fi
	s1=$(self_ticks)
	m1=$($mcount)
	line=$(cat "$TMP/load.result")
	[ -n "$line" ] || line="0 0 -1 0 0" # the load generator failed: errors -1
	awk -v round="$round" -v sc="$sc" -v conns="$conns" -v t="$t" -v attempt="$attempt" -v start="$start" \
		-v line="$line" -v hz="$HZ" -v w0="$w0" -v w1="$w1" -v c0="$c0" -v c1="$c1" \
		-v p="$((p1 - p0))" -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v mis="$((m1 - m0))" \
		-v mem="$TMP/mem" 'BEGIN {
		split(line, l, " "); split(c0, a, " "); split(c1, z, " ")
		wall = (w1 - w0) / 1e9 * hz # ticks of one core over the cell
		rps = l[2] > 0 ? l[1] / l[2] : 0
		proxy = t == "direct" ? "" : sprintf("%.1f", 100 * p / wall)
		per = (t == "direct" || p == 0) ? "" : sprintf("%.0f", rps / (p / wall))
		# CPU of other processes on each core (busy minus ours; kernel work not
		# charged to a process, such as softirq, counts too). Even when it only
		# fills idle time it delays our wakeups in this ping-pong pipeline, so
		# noise is all of it on the cores the cell uses.
		fl = (z[1] - a[1]) - b - s
		fp = (z[3] - a[3]) - p
		if (fl < 0) fl = 0
		if (fp < 0) fp = 0
		noise = fl + (t == "direct" ? 0 : fp)
		rss = ""; pss = ""
		while ((getline m < mem) > 0) {
			split(m, v, " ")
			if (rss == "" || v[1] > rss) rss = v[1]
			if (pss == "" || v[2] > pss) pss = v[2]
		}
		if (rss != "") { rss = sprintf("%.1f", rss / 1024); pss = sprintf("%.1f", pss / 1024) }
		printf "%s,%s,%s,%s,%s,%s,%d,%.3f,%.0f,%.3f,%.3f,%d,%s,%s,%s,%s,%s,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n",
			round, sc, conns, t, attempt, start, l[1], l[2], rps, l[4], l[5], l[3],
			t == "direct" ? "" : mis, proxy, per, rss, pss,
			100 * b / wall, 100 * s / wall, 100 * fl / wall, 100 * fp / wall, 100 * noise / wall,
			100 * (z[2] - a[2] + z[4] - a[4]) / wall
	}' >"$TMP/row"
}

measure() {
	local attempt=0 row noise best="" best_noise=
	while :; do
		attempt=$((attempt + 1))
		measure_once "$@" "$attempt"
		row=$(cat "$TMP/row")
		noise=$(cut -d, -f22 <<<"$row")
		if [ -z "$best" ] || awk -v a="$noise" -v b="$best_noise" 'BEGIN {exit !(a < b)}'; then
			[ -z "$best" ] || echo "$best" >>"$OUT/rejected.csv"
			best=$row best_noise=$noise
		else
			echo "$row" >>"$OUT/rejected.csv"
		fi
		if [ "$attempt" -le "$NOISE_RETRIES" ] && awk -v f="$noise" -v m="$NOISE_MAX" 'BEGIN {exit !(f > m)}'; then
			log "  $4: other processes used ${noise}% of a core beside ours, re-measuring"
			continue
		fi
		row=$best
		echo "$row" >>"$OUT/raw.csv"
		awk -F, '{printf "  %-8s %8s req/s  p50 %7s ms  p99 %7s ms  cpu %5s%%  rss %5s MiB  err %s  misrouted %s  noise %s%%\n",
			$4, $9, $10, $11, $14, $16, $12, $13, $22}' <<<"$row" >&2
		return
	done
}

# ---------------------------------------------------------------------------
# The run: rounds x scenarios x concurrencies x targets (interleaved).
run_targets=()
for t in "${TARGETS[@]}"; do [ "${STATUS[$t]}" = ok ] && run_targets+=("$t"); done
if [ -n "$TOMCAT_DIR" ]; then
	# Tomcat compiles its hot paths for a while: warm it (and every target) up first
	for t in "${run_targets[@]}"; do
		supports_ajp "$t" || continue
		log "ajp warm-up: $t, ${AJP_WARMUP:-15s}"
		load_ajp "$t" 256 "${AJP_WARMUP:-15s}"
	done
fi
[ ${#run_targets[@]} -gt 0 ] || die "no target passed its checks"
cells=$((ROUNDS * $(wc -w <<<"$SCENARIOS") * $(wc -w <<<"$CONNS") * ${#run_targets[@]}))
est=$((cells * ($(secs "$DURATION") + $(secs "$WARMUP") + 2) / 60 + 1))
log "run: ${run_targets[*]}; $cells cells of $WARMUP + $DURATION: $est min, up to $((est * (1 + NOISE_RETRIES))) with re-measured noisy cells; results in $OUT"
for round in $(seq "$ROUNDS"); do
	for sc in $SCENARIOS; do
		for conns in $CONNS; do
			log "round $round/$ROUNDS  $sc  $conns connections"
			for t in "${run_targets[@]}"; do
				"supports_$sc" "$t" || continue
				measure "$round" "$sc" "$conns" "$t"
			done
		done
	done
done

"$TMP/summarize" -dir "$OUT"
log "results: $OUT"
