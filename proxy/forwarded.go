package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
)

// trustedProxies are the peers whose X-Forwarded-* headers a site believes
// (an ALB or CLB in front of Tether). From anyone else those headers are
// replaced, never passed on.
type trustedProxies struct {
	prefixes []netip.Prefix
}

func (t *trustedProxies) contains(remoteAddr string) bool {
	if t == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// setForwarded sets X-Forwarded-For, -Host and -Proto on the outbound
// request. A trusted peer's X-Forwarded-For chain is kept and extended, and
// its X-Forwarded-Proto believed; anyone else's is dropped (Rewrite removed
// them from the outbound request).
func (s *Server) setForwarded(pr *httputil.ProxyRequest, t *trustedProxies) {
	trusted := t.contains(pr.In.RemoteAddr)
	if trusted {
		if v := pr.In.Header["X-Forwarded-For"]; len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = v
		}
	}
	pr.SetXForwarded()
	if trusted {
		if v := pr.In.Header.Get("X-Forwarded-Proto"); v == "http" || v == "https" {
			pr.Out.Header.Set("X-Forwarded-Proto", v)
		}
		if v := pr.In.Header.Get("X-Forwarded-Host"); v != "" {
			pr.Out.Header.Set("X-Forwarded-Host", v)
		}
	}
}

// clientHost is the client's address: the TCP peer, or, from a trusted
// proxy, the last address in X-Forwarded-For that is not itself trusted.
func clientHost(r *http.Request, t *trustedProxies) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if t == nil || !t.contains(r.RemoteAddr) {
		return host
	}
	chain := strings.Join(r.Header["X-Forwarded-For"], ",")
	for chain != "" {
		i := strings.LastIndexByte(chain, ',')
		hop := strings.TrimSpace(chain[i+1:])
		chain = chain[:max(i, 0)]
		a, err := netip.ParseAddr(hop)
		if err != nil || a.Zone() != "" {
			break // not an address; a zone ("fe80::1%x y") could carry anything into the log
		}
		if !t.contains(netip.AddrPortFrom(a, 0).String()) {
			return hop
		}
		if i < 0 {
			break
		}
	}
	return host
}
