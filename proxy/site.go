package proxy

import (
	"context"
	"net/http"
	"strings"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy/certs"
)

// site is one site block: its access log and limits around its request
// pipeline.
type site struct {
	cfg    *config.Site
	prog   *program
	errors *errorPages // handle_errors; nil without
	// clientIP: a value uses {client_ip} and the site has trusted
	// proxies, so its requests carry them (trustedKey).
	clientIP  bool
	accessLog *accessLogger
	trusted   *trustedProxies
	limits    *siteLimits // nil for the redirect sites of https ports
	// conn is the site's handshake settings (certs.DefaultConn without
	// any): its requests must come over a handshake made with equal ones.
	conn *certs.Conn
}

// mount is a balancer and the paths it serves.
type mount struct {
	include []pathPattern // empty: every path
	exclude []pathPattern
	b       *Balancer
}

// pathPattern is one path matcher, compiled from its written form:
//
//   - every path
//     /app/*      /app/ and everything below it (a prefix)
//     *.jsp       paths ending in .jsp (a suffix)
//     /exact      that path only
type pathPattern struct {
	kind byte // '*' any, 'p' prefix, 's' suffix, '=' exact
	s    string
}

func compilePattern(p string) pathPattern {
	switch {
	case p == "*" || p == "/*":
		return pathPattern{kind: '*'}
	case strings.HasPrefix(p, "*"):
		return pathPattern{kind: 's', s: p[1:]}
	case strings.HasSuffix(p, "*"):
		return pathPattern{kind: 'p', s: p[:len(p)-1]}
	}
	return pathPattern{kind: '=', s: p}
}

func (p pathPattern) match(path string) bool {
	switch p.kind {
	case '*':
		return true
	case 'p':
		return strings.HasPrefix(path, p.s)
	case 's':
		return strings.HasSuffix(path, p.s)
	}
	return path == p.s
}

func compilePatterns(ps []string) []pathPattern {
	out := make([]pathPattern, len(ps))
	for i, p := range ps {
		out[i] = compilePattern(p)
	}
	return out
}

func (m *mount) matches(path string) bool {
	for _, p := range m.exclude {
		if p.match(path) {
			return false
		}
	}
	if len(m.include) == 0 {
		return true
	}
	for _, p := range m.include {
		if p.match(path) {
			return true
		}
	}
	return false
}

// stripPathParams removes ";name=value" parameters from each segment of a
// path, as mod_jk does before it matches mounts, so "/app;jsessionid=x/a.jsp"
// matches "/app/*" and "*.jsp". It allocates only when the path has one.
func stripPathParams(path string) string {
	if strings.IndexByte(path, ';') < 0 {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for len(path) > 0 {
		i := strings.IndexByte(path, ';')
		if i < 0 {
			b.WriteString(path)
			break
		}
		b.WriteString(path[:i])
		path = path[i:]
		j := strings.IndexByte(path, '/')
		if j < 0 {
			break
		}
		path = path[j:]
	}
	return b.String()
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	orig := w
	if s.accessLog != nil {
		w, r = s.accessLog.begin(w, r, s)
		defer s.accessLog.end(w, r)
	}
	r = withErrorPages(r, s.errors)
	if s.clientIP {
		r = r.WithContext(context.WithValue(r.Context(), trustedKey{}, s.trusted))
	}
	if s.limits != nil {
		var ok bool
		w, r, ok = s.limits.admit(w, orig, r)
		defer s.limits.finish(orig, r, ok)
		if !ok {
			return
		}
	}
	if s.trusted != nil && hasALBCert(r.Header) && s.trusted.contains(r.RemoteAddr) {
		var ok bool
		if r, ok = s.forwardedCert(w, r); !ok {
			return
		}
	}
	s.prog.ServeHTTP(w, r)
}

// hostRouter picks a site by the request's Host on one listener: an exact
// name first, then a wildcard ("*.example.com"), then the site without a
// name (an IP or a bare port), which takes any Host.
type hostRouter struct {
	exact map[string]*site
	// wildcard maps a wildcard name's domain (".example.com" for
	// "*.example.com", lower case) to its site, the first one added: a Host
	// matches by the part from its first dot, one map lookup whatever the
	// number of sites.
	wildcard map[string]*site
	any      *site
	// checkTLS: some https site of the listener has handshake settings of
	// its own, so a request must name a site whose settings its handshake
	// was made with (see ServeHTTP).
	checkTLS bool
}

func (h *hostRouter) add(host string, s *site) {
	switch {
	case host == "" || isIPLiteral(host):
		if h.any == nil {
			h.any = s
		}
	case strings.HasPrefix(host, "*."):
		if h.wildcard == nil {
			h.wildcard = map[string]*site{}
		}
		if suffix := strings.ToLower(host[1:]); h.wildcard[suffix] == nil {
			h.wildcard[suffix] = s
		}
	default:
		if h.exact == nil {
			h.exact = map[string]*site{}
		}
		h.exact[strings.ToLower(host)] = s
	}
}

func (h *hostRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s := h.lookup(r.Host); s != nil {
		if h.checkTLS && r.TLS != nil && handshakeOf(r).Key != s.conn.Key {
			// The handshake (chosen by the server name) was made for a site
			// with other settings: a client must not pass client_auth or
			// protocols by naming another site in the hello (or reusing an
			// HTTP/2 connection made for one, or one made before a reload
			// changed them). 421 tells it to connect anew, as Caddy's
			// strict SNI-host check does.
			w.Header().Set("Connection", "close")
			http.Error(w, "the TLS connection was made for another site: connect again for this one", http.StatusMisdirectedRequest)
			return
		}
		s.ServeHTTP(w, r)
		return
	}
	http.Error(w, "no site is configured for this host", http.StatusMisdirectedRequest)
}

func (h *hostRouter) lookup(host string) *site {
	if len(h.exact) == 0 && len(h.wildcard) == 0 {
		return h.any
	}
	host = hostOnly(host)
	if s, ok := h.exact[host]; ok {
		return s
	}
	if s, ok := h.exact[strings.ToLower(host)]; ok {
		return s
	}
	// "*.example.com" matches one label before ".example.com": the Host
	// from its first dot.
	if i := strings.IndexByte(host, '.'); i >= 0 && len(h.wildcard) > 0 {
		if s, ok := h.wildcard[host[i:]]; ok {
			return s
		}
		if s, ok := h.wildcard[strings.ToLower(host[i:])]; ok {
			return s
		}
	}
	return h.any
}

// hostOnly strips a port from a Host header value.
func hostOnly(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if i := strings.IndexByte(hostport, ']'); i > 0 {
			return hostport[1:i]
		}
		return hostport
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && strings.IndexByte(hostport, ':') == i {
		return hostport[:i]
	}
	return hostport
}

func isIPLiteral(h string) bool {
	h = strings.Trim(h, "[]")
	return strings.IndexFunc(h, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == ':' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F')
	}) < 0 && (strings.Count(h, ".") == 3 || strings.Contains(h, ":"))
}
