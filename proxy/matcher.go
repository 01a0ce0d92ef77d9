package proxy

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"path"
	"regexp"
	"strings"

	"github.com/tether-proxy/tether/config"
)

// matcher is a compiled matcher set (config.Matcher): a request matches
// when it passes every condition that is set. The common conditions
// (paths, hosts, methods, headers) match without allocating.
type matcher struct {
	paths   []pathMatch
	pathRes []*regexp.Regexp
	hosts   []string // lower case; "*.x" a one-label wildcard
	methods []string
	headers []fieldMatch
	hdrRes  []headerRegexp
	query   []fieldMatch
	remote  []netip.Prefix
	client  []netip.Prefix
	trusted *trustedProxies // for client
	proto   string
	exprs   []*celProgram
	not     []*matcher
	// mount is reverse_proxy's own path patterns (mod_jk's semantics:
	// case-sensitive, with exclusions); nil when it has none.
	mount *mount
}

// pathMatch is one Caddy path pattern, matched case-insensitively.
type pathMatch struct {
	kind byte   // '*' any, 'p' prefix, 's' suffix, '=' exact, 'g' glob (path.Match)
	s    string // lower case
}

type fieldMatch struct {
	field  string // canonical for headers
	values []string
	absent bool
}

type headerRegexp struct {
	field string
	re    *regexp.Regexp
}

func compileMatcher(c *config.Matcher, trusted *trustedProxies) *matcher {
	if c == nil {
		return nil
	}
	m := &matcher{hosts: c.Hosts, methods: c.Methods, remote: c.RemoteIPs, client: c.ClientIPs, trusted: trusted, proto: c.Protocol}
	for _, p := range c.Paths {
		m.paths = append(m.paths, compilePathMatch(p))
	}
	for _, re := range c.PathRegexps {
		m.pathRes = append(m.pathRes, re.Re)
	}
	for _, h := range c.Headers {
		m.headers = append(m.headers, fieldMatch{field: textproto.CanonicalMIMEHeaderKey(h.Field), values: h.Values, absent: h.Absent})
	}
	for _, h := range c.HeaderRegexps {
		m.hdrRes = append(m.hdrRes, headerRegexp{field: textproto.CanonicalMIMEHeaderKey(h.Field), re: h.Re})
	}
	for _, q := range c.Query {
		m.query = append(m.query, fieldMatch{field: q.Field, values: q.Values})
	}
	for _, e := range c.Expressions {
		m.exprs = append(m.exprs, compileExpr(e, trusted))
	}
	for _, n := range c.Not {
		m.not = append(m.not, compileMatcher(n, trusted))
	}
	return m
}

func compilePathMatch(p string) pathMatch {
	p = strings.ToLower(p)
	inner := strings.Trim(p, "*")
	switch {
	case p == "*":
		return pathMatch{kind: '*'}
	case strings.Contains(inner, "*"):
		return pathMatch{kind: 'g', s: p}
	case strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"):
		return pathMatch{kind: 'c', s: inner}
	case strings.HasPrefix(p, "*"):
		return pathMatch{kind: 's', s: inner}
	case strings.HasSuffix(p, "*"):
		return pathMatch{kind: 'p', s: inner}
	}
	return pathMatch{kind: '=', s: p}
}

func (p pathMatch) match(path string) bool {
	switch p.kind {
	case '*':
		return true
	case 'p':
		return len(path) >= len(p.s) && strings.EqualFold(path[:len(p.s)], p.s)
	case 's':
		return len(path) >= len(p.s) && strings.EqualFold(path[len(path)-len(p.s):], p.s)
	case 'c':
		return strings.Contains(strings.ToLower(path), p.s)
	case 'g':
		ok, _ := pathMatchGlob(p.s, strings.ToLower(path))
		return ok
	}
	return strings.EqualFold(path, p.s)
}

// pathMatchGlob is path.Match, where * does not cross a '/'.
var pathMatchGlob = path.Match

// match reports whether r passes every condition of m; a nil m matches.
func (m *matcher) match(r *http.Request) bool {
	if m == nil {
		return true
	}
	if m.mount != nil || len(m.paths) > 0 || len(m.pathRes) > 0 {
		p := stripPathParams(r.URL.Path)
		if m.mount != nil && !m.mount.matches(p) {
			return false
		}
		if len(m.paths) > 0 && !m.matchPath(p) {
			return false
		}
		for _, re := range m.pathRes {
			if !re.MatchString(p) {
				return false
			}
		}
	}
	if len(m.methods) > 0 && !containsString(m.methods, r.Method) {
		return false
	}
	if len(m.hosts) > 0 && !m.matchHost(hostOnly(r.Host)) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].matchHeader(r.Header) {
			return false
		}
	}
	for _, h := range m.hdrRes {
		if !h.re.MatchString(r.Header.Get(h.field)) {
			return false
		}
	}
	if len(m.query) > 0 && !m.matchQuery(r) {
		return false
	}
	if len(m.remote) > 0 && !inPrefixes(m.remote, r.RemoteAddr) {
		return false
	}
	if len(m.client) > 0 && !inPrefixes(m.client, clientHost(r, m.trusted)) {
		return false
	}
	if m.proto != "" && !matchProto(m.proto, r) {
		return false
	}
	for _, e := range m.exprs {
		if !e.match(r) {
			return false
		}
	}
	for _, n := range m.not {
		if n.match(r) {
			return false
		}
	}
	return true
}

func (m *matcher) matchPath(p string) bool {
	for _, pm := range m.paths {
		if pm.match(p) {
			return true
		}
	}
	return false
}

func (m *matcher) matchHost(h string) bool {
	for _, want := range m.hosts {
		if strings.HasPrefix(want, "*.") {
			if i := strings.IndexByte(h, '.'); i > 0 && strings.EqualFold(h[i:], want[1:]) {
				return true
			}
			continue
		}
		if strings.EqualFold(h, want) {
			return true
		}
	}
	return false
}

func (f *fieldMatch) matchHeader(h http.Header) bool {
	vs, ok := h[f.field]
	if f.absent {
		return !ok
	}
	if !ok {
		return false
	}
	if len(f.values) == 0 {
		return true
	}
	for _, v := range vs {
		if matchValue(f.values, v) {
			return true
		}
	}
	return false
}

// matchValue reports whether v is one of the patterns: "*" any, "*x" a
// suffix, "x*" a prefix, "*x*" a substring, else exact.
func matchValue(patterns []string, v string) bool {
	for _, p := range patterns {
		switch {
		case p == "*":
			return true
		case len(p) > 1 && p[0] == '*' && p[len(p)-1] == '*':
			if strings.Contains(v, p[1:len(p)-1]) {
				return true
			}
		case p[0] == '*':
			if strings.HasSuffix(v, p[1:]) {
				return true
			}
		case p[len(p)-1] == '*':
			if strings.HasPrefix(v, p[:len(p)-1]) {
				return true
			}
		case p == v:
			return true
		}
	}
	return false
}

func (m *matcher) matchQuery(r *http.Request) bool {
	q := r.URL.Query()
	for _, f := range m.query {
		vs, ok := q[f.field]
		if !ok {
			return false
		}
		hit := false
		for _, v := range vs {
			if matchValue(f.values, v) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// inPrefixes reports whether addr (an IP, or IP:port) is in one of ps.
func inPrefixes(ps []netip.Prefix, addr string) bool {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ip = ap.Addr()
	} else if a, err := netip.ParseAddr(addr); err == nil {
		ip = a
	} else {
		return false
	}
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func matchProto(p string, r *http.Request) bool {
	switch p {
	case "http":
		return r.TLS == nil
	case "https":
		return r.TLS != nil
	case "grpc":
		return strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
	case "http/1.0":
		return r.ProtoMajor == 1 && r.ProtoMinor == 0
	case "http/1.1":
		return r.ProtoMajor == 1 && r.ProtoMinor == 1
	case "http/1.1+":
		return r.ProtoAtLeast(1, 1)
	case "http/2":
		return r.ProtoMajor == 2
	case "http/2+":
		return r.ProtoMajor >= 2
	case "http/3":
		return r.ProtoMajor == 3
	}
	return false
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
