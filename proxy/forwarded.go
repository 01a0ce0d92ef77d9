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
	// headers are where a trusted peer's client address is read, the
	// first that is set (Caddy's client_ip_headers); nil: X-Forwarded-For.
	headers []string
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
// them from the outbound request). The other headers that tell a member
// who the client is or how it came (clientHeaders) pass only from a
// trusted peer: from anyone else they are removed, since a member (or its
// framework: Tomcat's RemoteIpValve, Spring, PHP's HTTP_X_REAL_IP) would
// believe them, Tether being the peer it trusts.
func (s *Server) setForwarded(pr *httputil.ProxyRequest, t *trustedProxies) {
	trusted := t.contains(pr.In.RemoteAddr)
	if trusted {
		if v := pr.In.Header["X-Forwarded-For"]; len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = v
		}
		// Rewrite removed Forwarded too; a trusted peer's passes unchanged
		// (Tether adds no Forwarded element of its own: it speaks
		// X-Forwarded-*).
		if v := pr.In.Header["Forwarded"]; len(v) > 0 {
			pr.Out.Header["Forwarded"] = v
		}
	} else {
		dropClientHeaders(pr.Out.Header)
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

// clientHeaders are the request headers, in canonical form, besides
// X-Forwarded-For/-Host/-Proto (which Rewrite removes and setForwarded
// sets), that proxies and CDNs use to tell a member the client's address
// or how the request reached them. From a peer outside trusted_proxies
// they are forged: dropClientHeaders removes them.
var clientHeaders = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range []string{
		// The client's address (or the chain of proxies).
		"Forwarded",                 // RFC 7239
		"X-Real-IP",                 // nginx (proxy_set_header, realip)
		"True-Client-IP",            // Akamai, Cloudflare Enterprise
		"X-Client-IP",               // HAProxy examples, many frameworks
		"Client-IP",                 // PHP's HTTP_CLIENT_IP
		"CF-Connecting-IP",          // Cloudflare
		"CF-Connecting-IPv6",        // Cloudflare
		"Fastly-Client-IP",          // Fastly
		"X-Cluster-Client-IP",       // Rackspace, Riverbed Stingray
		"X-Original-Forwarded-For",  // ingress-nginx
		"X-Forwarded",               // pre-RFC 7239 form
		"Forwarded-For",             // pre-RFC 7239 form
		"Fly-Client-IP",             // Fly.io
		"CloudFront-Viewer-Address", // AWS CloudFront
		"X-Envoy-External-Address",  // Envoy
		"X-Azure-ClientIP",          // Azure Front Door
		"X-Azure-SocketIP",          // Azure Front Door
		"X-ProxyUser-IP",            // Google
		"X-Forwarded-By",            // Tomcat RemoteIpValve's proxies header
		// How the request came: a member building URLs or redirects from
		// them would take a client's word for its scheme, port and prefix.
		"X-Forwarded-Port",   // Tomcat RemoteIpValve, Spring, Jetty
		"X-Forwarded-Ssl",    // Spring, Rack
		"X-Forwarded-Scheme", // nginx-ingress, Rack
		"X-Forwarded-Server", // Apache mod_proxy, Jetty
		"X-Forwarded-Prefix", // Spring
		"Front-End-Https",    // Microsoft OWA/IIS
		"X-Url-Scheme",       // Rack, gunicorn
	} {
		m[http.CanonicalHeaderKey(h)] = true
	}
	// An AWS ALB's mutual TLS and TLS headers: the client certificate it
	// verified or passed through (clientcert.go).
	for _, h := range albHeaders {
		m[http.CanonicalHeaderKey(h)] = true
	}
	return m
}()

// dropClientHeaders removes clientHeaders from h, also when the name is
// spelt with '_' for '-' (X_Real_IP), which CGI-style gateways map to the
// same variable as the dashed name.
func dropClientHeaders(h http.Header) {
	for k := range h {
		if clientHeaders[k] {
			delete(h, k)
		} else if strings.IndexByte(k, '_') >= 0 && clientHeaders[http.CanonicalHeaderKey(strings.ReplaceAll(k, "_", "-"))] {
			delete(h, k)
		}
	}
}

// clientHost is the client's address: the TCP peer, or, from a trusted
// proxy, the last address in X-Forwarded-For (or the first of the
// client_ip_headers that is set) that is not itself trusted: read from the
// right, as Caddy's trusted_proxies_strict, since the left of the list is
// whatever the client sent.
func clientHost(r *http.Request, t *trustedProxies) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if t == nil || !t.contains(r.RemoteAddr) {
		return host
	}
	values := r.Header["X-Forwarded-For"]
	for i, h := range t.headers {
		if values = r.Header[h]; len(values) > 0 || i == len(t.headers)-1 {
			break
		}
	}
	chain := strings.Join(values, ",")
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
