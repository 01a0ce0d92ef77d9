package config

import (
	"encoding/base64"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a config duration: Go's time.ParseDuration syntax
// ("500ms", "30s", "1h30m") plus "d" for days of 24 hours ("1d", "1.5d",
// "1d12h"), as Caddy accepts. A bare number is not a duration, except "0";
// negative durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, &durationError{s: s}
	}
	if s == "" {
		return bad()
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		if num == "" || unit == "" {
			return bad()
		}
		mult := time.Duration(1)
		if unit == "d" {
			unit, mult = "h", 24
		}
		d, err := time.ParseDuration(num + unit)
		if err != nil || d > math.MaxInt64/mult {
			return bad()
		}
		d *= mult
		if total > math.MaxInt64-d {
			return bad()
		}
		total += d
		rest = rest[j:]
	}
	return total, nil
}

type durationError struct{ s string }

func (e *durationError) Error() string {
	return "bad duration " + strconv.Quote(e.s) + " (want e.g. 500ms, 30s, 5m, 2h or 1d)"
}

// parseHostPort checks "host:port" (host may be empty, port 0..65535).
func parseHostPort(s string) (host string, port int, ok bool) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || strings.ContainsAny(h, " /") {
		return "", 0, false
	}
	return h, n, true
}

// isLoopbackHost reports whether host names only the loopback interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// privateRanges is what "private_ranges" stands for in trusted_proxies:
// RFC 1918, IPv4 and IPv6 loopback, and IPv6 unique local addresses
// (RFC 4193).
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
}

// parsePrefix accepts a CIDR or a single IP (which becomes a /32 or /128).
// Host bits are cleared: "10.1.2.3/8" means 10.0.0.0/8.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip, ip.BitLen()), true
}

// gossipKeyError checks a base64 gossip key: memberlist takes AES keys of
// 16, 24 or 32 bytes.
func gossipKeyError(s string) string {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "is not valid base64 (tether keygen prints a key)"
	}
	switch len(k) {
	case 16, 24, 32:
		return ""
	}
	return "decodes to " + strconv.Itoa(len(k)) + " bytes; want 16, 24 or 32 (tether keygen prints a key)"
}

// defaultPorts of member URL schemes.
var defaultPorts = map[string]string{"http": "80", "https": "443", "h2c": "80", "ajp": "8009"}

// parseMemberURL checks a member URL and returns it as scheme://host:port.
// A URL without a scheme ("10.0.0.1:8080") is http. Paths, queries and user
// info are not allowed: a member is an address, not a location.
func parseMemberURL(s string) (string, string) {
	raw := s
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", "bad URL " + strconv.Quote(raw)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "grpc" || scheme == "grpcs" {
		return "", "URL " + strconv.Quote(raw) + ": scheme " + strconv.Quote(u.Scheme) + " is not supported: a gRPC member is h2c://host:port (cleartext HTTP/2) or https://host:port"
	}
	if _, ok := defaultPorts[scheme]; !ok {
		return "", "URL " + strconv.Quote(raw) + ": scheme " + strconv.Quote(u.Scheme) + " is not supported (want http, https, h2c or ajp)"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", "URL " + strconv.Quote(raw) + " has no host"
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/") || u.Opaque != "" {
		return "", "URL " + strconv.Quote(raw) + ": a member URL is scheme://host:port, without path or query"
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return "", "URL " + strconv.Quote(raw) + " has an empty port"
		}
		port = defaultPorts[scheme]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "URL " + strconv.Quote(raw) + ": bad port " + strconv.Quote(port)
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), ""
}

// validName reports whether s may name a member, balancer or cluster: it
// appears in admin API paths, so it has no '/', spaces or URL syntax.
func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-:[]@~", c) >= 0) {
			return false
		}
	}
	return true
}

// checkURL checks an http(s) URL such as an ACME directory or an ask
// endpoint.
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "want an http:// or https:// URL, got " + strconv.Quote(s)
	}
	return ""
}
