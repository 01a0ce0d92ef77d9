#!/usr/bin/env bash
# make dist-check (part of make test, so CI runs it): what Tether ships.
#
#  1. make release is reproducible: two clean clones of HEAD at different
#     paths, the second with an empty build cache, give the same SHA256SUMS;
#     the binaries are static and `tether version` names the version and
#     commit.
#  2. make package: the .deb installs with dpkg -i, puts its files where
#     they belong, creates the tether system user, passes systemd-analyze
#     verify and logrotate's check; the installed binary validates and
#     serves the packaged config (as user tether with only
#     CAP_NET_BIND_SERVICE, as the unit runs it, in a network namespace of
#     its own so port 80 is free); then dpkg --purge leaves the machine as it
#     was. The .rpm's file list is checked with rpm.
#  3. make image: the OCI tarball's layout, config and layers
#     (scripts/check-image.py); both clones write the same bytes; the image's
#     Caddyfile serves as the image's non-root user.
#  4. examples/monitoring: promtool check rules and test rules, and every
#     query of the Grafana dashboard parses.
#
# Needs root (dpkg, users, namespaces), as CI has. It checks HEAD, not
# uncommitted changes. CHECK_DIST_QUICK=1 (for development, never in CI)
# skips the second, cold build and so the reproducibility checks.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
[ "$(id -u)" = 0 ] || { echo "check-dist: needs root (dpkg -i, useradd, unshare)" >&2; exit 1; }
for tool in dpkg-deb systemd-analyze logrotate rpm unshare setpriv ip curl promtool; do
	command -v $tool >/dev/null || { echo "check-dist: $tool is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
if dpkg-query -W -f='${Status}' tether 2>/dev/null | grep -q installed; then
	echo "check-dist: a tether package is already installed here; remove it first (dpkg --purge tether)" >&2
	exit 1
fi
work=$(mktemp -d /tmp/tether-dist.XXXXXX)
installed="" imgdir=""
cleanup() {
	if [ -n "$installed" ]; then
		dpkg --purge tether >/dev/null 2>&1 || true
	fi
	rm -rf "$work" ${imgdir:+"$imgdir"}
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "check-dist: FAIL: $*" >&2; exit 1; }

head=$(git rev-parse HEAD)
quick=${CHECK_DIST_QUICK:-}
[ -n "$quick" ] && [ -n "${CI:-}" ] && { echo "check-dist: CHECK_DIST_QUICK is not for CI" >&2; exit 1; }
clones="a b"
[ -n "$quick" ] && clones=a
for c in $clones; do
	git clone -q --no-hardlinks "$root" "$work/$c"
	git -C "$work/$c" checkout -q --detach "$head"
done

step "make release in $work/a (this machine's build cache) and $work/b (an empty one)"
start=$SECONDS
make -C "$work/a" --no-print-directory release
echo "(a: $((SECONDS - start)) s)"
if [ -z "$quick" ]; then
	start=$SECONDS
	GOCACHE="$work/gocache" make -C "$work/b" --no-print-directory release >/dev/null
	echo "(b: $((SECONDS - start)) s, cold)"
	cmp "$work/a/dist/SHA256SUMS" "$work/b/dist/SHA256SUMS" || {
		diff "$work/a/dist/SHA256SUMS" "$work/b/dist/SHA256SUMS" >&2 || true
		fail "two builds of $head differ"
	}
	echo "reproducible: both builds give the same SHA256SUMS"
fi
version=$(bash "$work/a/scripts/version.sh")
case "$version" in *dirty*) fail "a clean clone says $version" ;; esac
(cd "$work/a/dist" && sha256sum -c SHA256SUMS)
bin="$work/a/dist/tether_${version#v}_linux_amd64"
got=$("$bin" version)
echo "$got"
[[ "$got" == "tether $version (commit $head, go"*" linux/amd64)" ]] || fail "tether version says: $got"
for arch in amd64 arm64; do
	info=$(go version -m "$work/a/dist/tether_${version#v}_linux_$arch")
	for want in "CGO_ENABLED=0" "GOARCH=$arch" "-trimpath=true" "vcs.revision=$head" "vcs.modified=false"; do
		grep -qF -- "$want" <<<"$info" || fail "linux/$arch binary: build info lacks $want"
	done
done
echo "static (CGO_ENABLED=0), -trimpath, stamped with $head, for amd64 and arm64"

step "make package"
bash "$work/a/scripts/package.sh"
deb=$(ls "$work/a/dist/"tether_*_amd64.deb)
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/tether ./etc/tether/Caddyfile ./etc/default/tether ./usr/lib/systemd/system/tether.service \
	./etc/logrotate.d/tether ./usr/share/doc/tether/LICENSE ./usr/share/doc/tether/Caddyfile.example; do
	grep -qE " $f\$" <<<"$contents" || fail "$deb lacks $f"
done
conffiles=$(dpkg-deb --info "$deb" conffiles)
grep -q /etc/tether/Caddyfile <<<"$conffiles" || fail "/etc/tether/Caddyfile is not a conffile: $conffiles"
for rpmfile in "$work/a/dist/"tether-*.rpm; do
	rpmlist=$(rpm -qlp "$rpmfile" 2>/dev/null)
	for f in /usr/bin/tether /etc/tether/Caddyfile /usr/lib/systemd/system/tether.service /etc/logrotate.d/tether; do
		grep -qx "$f" <<<"$rpmlist" || fail "$rpmfile lacks $f"
	done
	rpm -qp --configfiles "$rpmfile" 2>/dev/null | grep -qx /etc/tether/Caddyfile || fail "$rpmfile: Caddyfile is not %config"
	echo "$(basename "$rpmfile"): $(rpm -qp --qf '%{ARCH} %{VERSION}' "$rpmfile" 2>/dev/null), files and %config ok"
done

step "dpkg -i $(basename "$deb")"
installed=yes
dpkg -i "$deb"
dpkg -L tether
getent passwd tether | grep -qE '^tether:x:[0-9]+:[0-9]+:.*:/var/lib/tether:/usr/sbin/nologin$' || fail "no tether system user: $(getent passwd tether)"
tuid=$(id -u tether)
[ "$tuid" -lt 1000 ] || fail "tether is uid $tuid, not a system user"
for d in /var/lib/tether /var/log/tether; do
	[ "$(stat -c '%U:%G %a' $d)" = "tether:tether 750" ] || fail "$d is $(stat -c '%U:%G %a' $d)"
done
echo "user: $(getent passwd tether)"
/usr/bin/tether version
[ "$(/usr/bin/tether version)" = "$got" ] || fail "the installed binary is not the release build"

step "systemd-analyze verify tether.service"
systemd-analyze verify /usr/lib/systemd/system/tether.service
for want in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' ProtectSystem=strict NoNewPrivileges=true \
	CapabilityBoundingSet=CAP_NET_BIND_SERVICE StateDirectory=tether Environment=TETHER_DATA=/var/lib/tether; do
	grep -qxF "$want" /usr/lib/systemd/system/tether.service || fail "tether.service lacks $want"
done
echo "verified, with $(grep -cE '^(Protect|Restrict|NoNew|Capability|Private|Lock|Memory|SystemCall)' /usr/lib/systemd/system/tether.service) hardening settings"

step "logrotate -d /etc/logrotate.d/tether"
logrotate -d /etc/logrotate.d/tether 2>&1 | grep -E 'rotating pattern|error' | tee "$work/logrotate.txt"
grep -q error "$work/logrotate.txt" && fail "logrotate rejects /etc/logrotate.d/tether"

step "the installed binary validates and serves /etc/tether/Caddyfile as user tether"
setpriv --reuid tether --regid tether --init-groups /usr/bin/tether validate /etc/tether/Caddyfile
# In a network namespace of its own (only loopback, port 80 free), as the
# unit runs it: user tether, CAP_NET_BIND_SERVICE and nothing else.
unshare --net bash -euo pipefail -c '
	ip link set lo up
	TETHER_DATA=/var/lib/tether setpriv --reuid tether --regid tether --init-groups \
		--inh-caps +net_bind_service --ambient-caps +net_bind_service --bounding-set -all,+net_bind_service \
		/usr/bin/tether run /etc/tether/Caddyfile 2>"$1/run.log" &
	pid=$!
	for i in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1/ 2>/dev/null && break; sleep 0.2; done
	body=$(curl -fsS http://127.0.0.1/)
	echo "GET http://127.0.0.1/ -> $body"
	case "$body" in "Tether is running."*) ;; *) echo "unexpected answer" >&2; exit 1 ;; esac
	echo "GET http://127.0.0.1:9180/healthz -> $(curl -fsS -o /dev/null -w "%{http_code}" http://127.0.0.1:9180/healthz)"
	kill -HUP $pid; sleep 0.5
	curl -fsS -o /dev/null http://127.0.0.1/ || { echo "not serving after SIGHUP" >&2; exit 1; }
	kill -TERM $pid
	wait $pid || { echo "tether run exited $? on SIGTERM" >&2; exit 1; }
' _ "$work"
grep -q '"config reloaded"' "$work/run.log" || { cat "$work/run.log" >&2; fail "no reload on SIGHUP"; }
line=$(tail -1 /var/log/tether/access.log)
echo "access log: $line"
[[ "$line" == 127.0.0.1*'"GET / HTTP/1.1" 200'* ]] || fail "no access log line in /var/log/tether/access.log"
[ "$(stat -c %U /var/log/tether/access.log)" = tether ] || fail "access.log is not tether's"

step "dpkg -r, then dpkg --purge"
dpkg -r tether >/dev/null
[ ! -e /usr/bin/tether ] || fail "/usr/bin/tether left after dpkg -r"
[ -e /etc/tether/Caddyfile ] || fail "dpkg -r removed the conffile /etc/tether/Caddyfile"
dpkg --purge tether >/dev/null
installed=""
for p in /etc/tether /var/lib/tether /var/log/tether /usr/lib/systemd/system/tether.service; do
	[ ! -e $p ] || fail "$p left after purge"
done
! getent passwd tether >/dev/null || fail "user tether left after purge"
echo "removed and purged: no file, directory or user left"

step "make image"
(cd "$work/a" && bash scripts/image.sh)
image="tether_${version#v}_oci.tar"
if [ -z "$quick" ]; then
	(cd "$work/b" && GOCACHE="$work/gocache" bash scripts/image.sh >/dev/null)
	cmp "$work/a/dist/$image" "$work/b/dist/$image" || fail "two image builds differ"
	echo "reproducible: both builds write the same image tarball"
fi
/usr/bin/python3 scripts/check-image.py "$work/a/dist/$image" "$version" "$work/a/dist"
# The image's own Caddyfile serves as its non-root user, without
# privileges. $work is root's alone (mode 0700), so that user's copies of
# the binary and the file go in a directory of its own.
imgdir=$(mktemp -d /tmp/tether-image-user.XXXXXX)
chmod 0755 "$imgdir"
install -m 0755 "$bin" "$imgdir/tether"
install -m 0644 "$work/a/packaging/container.Caddyfile" "$imgdir/Caddyfile"
install -d -o 65532 -g 65532 -m 0750 "$imgdir/data"
unshare --net bash -euo pipefail -c '
	ip link set lo up
	TETHER_DATA=$1/data setpriv --reuid 65532 --regid 65532 --clear-groups --inh-caps -all --bounding-set -all \
		"$1/tether" run "$1/Caddyfile" 2>"$1/run.log" &
	pid=$!
	for i in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:8080/ 2>/dev/null && break; sleep 0.2; done
	echo "image config as uid 65532: GET http://127.0.0.1:8080/ -> $(curl -fsS http://127.0.0.1:8080/ || cat "$1/run.log" >&2)"
	kill -TERM $pid
	wait $pid
' _ "$imgdir"

step "examples/monitoring"
mon="$work/a/examples/monitoring"
promtool check rules "$mon/tether.rules.yml"
(cd "$mon" && promtool test rules tether.rules.test.yml)
# Every query of the dashboard, with its variables filled in, as a
# recording rule: promtool parses them all.
/usr/bin/python3 - "$mon/grafana-dashboard.json" "$work/dashboard.rules.yml" <<'PY'
import json, sys
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
subst = {"$__rate_interval": "5m", "$instance": ".*", "$balancer": ".*", "$job": "tether"}
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        for k, v in subst.items():
            e = e.replace(k, v)
        out.write(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(e)}\n")
print(f"grafana-dashboard.json: {len(dash['panels'])} panels, {len(exprs)} queries")
PY
promtool check rules "$work/dashboard.rules.yml"

printf '\ncheck-dist: ok\n'
