#!/usr/bin/env bash
# Installs what Tether's tests need on a fresh Debian machine, as root.
# Only missing packages are installed; the Go modules are downloaded too.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
	curl        # scripts and examples; curl --cert in the client certificate tests
	openssl     # openssl s_client in the TLS policy tests (cmd/tether TestMTLS*)
	wrk         # load in failover tests and bench/
	tomcat10    # real AJP13/jvmRoute backends for proxy/ajp integration tests (scripts/tomcat.sh); pulls in a Java runtime
	pebble          # Let's Encrypt's ACME test server (+ pebble-challtestsrv) for the proxy ACME tests
	nghttp2-client  # h2load: HTTP/2 load in the proxy TLS tests and bench/
	apache2            # the incumbent, side by side with Tether (scripts/apache-modjk.sh, bench ajp scenario)
	libapache2-mod-jk  # mod_jk for it
	prometheus  # promtool: proxy's TestMetricsPromtool checks a real /metrics scrape
	chromium    # headless browser for the status page test (cmd/tether TestStatusPage*) and docs/status-page.png
	caddy       # side by side with Tether: the same site block (cmd/tether TestBesideCaddy)
	systemd          # systemd-analyze verify of the packaged unit (scripts/check-dist.sh)
	logrotate        # logrotate -d of the packaged rules (scripts/check-dist.sh)
	rpm              # rpm -qlp of the .rpm (scripts/check-dist.sh)
	iproute2         # a network namespace's loopback for the installed package (scripts/check-dist.sh)
	ca-certificates  # the container image's CA bundle (scripts/image.sh)
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages (run as root to install): ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
go mod download
# The release tools (nfpm, go-containerregistry): their own module, tools/.
go -C tools mod download

# h2spec, HTTP/2 conformance (cmd/tether TestH2Spec), pinned; `go install`
# puts it in $(go env GOBIN), else $(go env GOPATH)/bin, where the test finds it.
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
if ! command -v h2spec >/dev/null && [ ! -x "$gobin/h2spec" ]; then
	go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
fi
# staticcheck, run by scripts/lint.sh, pinned.
if [ ! -x "$gobin/staticcheck" ] || ! "$gobin/staticcheck" -version | grep -q '0\.8\.2'; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
