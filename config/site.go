package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// site builds one site block.
func (b *builder) site(sn siteNode) (*Site, error) {
	s := &Site{Pos: sn.keys[0].pos}
	for _, k := range sn.keys {
		off := 0
		for piece := range strings.SplitSeq(k.text, ",") {
			p := k.pos
			if k.kind == tokWord {
				p.Col += off
			}
			off += len(piece) + 1
			if piece == "" {
				continue
			}
			a, err := parseAddress(piece)
			if err != nil {
				return nil, errorf(p, "site address %q: %w", piece, err)
			}
			if key, ok := b.addressKey(a); ok {
				if prev, dup := b.addresses[key]; dup {
					return nil, errorf(p, "site address %q is already served by the site at %s", piece, prev)
				}
				b.addresses[key] = p
			}
			s.Addresses = append(s.Addresses, a)
		}
	}
	if len(s.Addresses) == 0 {
		return nil, errorf(s.Pos, "site block without an address")
	}
	seen := map[string]Pos{}
	host := siteNameHost(s.Addresses)
	srv := b.siteServer(s) // Caddy's servers block for the site's listener
	base := b.cfg.Global.Limits
	if srv != nil {
		base = srv.Limits
	}
	var requestBody int64 // request_body max_size, applied over limits
	for _, n := range sn.body {
		if !slices.Contains(siteOnly, n.name()) {
			if !strings.HasPrefix(n.name(), "@") && !slices.Contains(blockDirectives, n.name()) {
				return nil, caddyDirectiveError(n)
			}
			continue // the pipeline's, below
		}
		if n.name() != "trusted_proxies" && n.name() != "handle_errors" {
			if err := once(seen, n); err != nil {
				return nil, err
			}
		}
		var err error
		switch n.name() {
		case "trusted_proxies":
			err = trustedProxies(n, s)
		case "proxy_protocol":
			s.ProxyProtocol, err = prefixList(n)
		case "tls":
			if s.TLS, err = b.tlsDirective(n); err == nil {
				err = b.onDemandAsk(n, s.TLS)
			}
		case "access_log", "log":
			if s.AccessLog != nil {
				err = errorf(n.args[0].pos, "%s: the site already has an access log (access_log and log are the same)", n.name())
			} else if n.name() == "log" {
				s.AccessLog, err = b.caddyLog(n)
			} else {
				s.AccessLog, err = accessLog(n)
			}
		case "import_jk":
			s.ImportJK, err = importJK(n)
		case "limits":
			l := base
			if err = limits(n, &l, true); err == nil {
				s.Limits = &l
			}
		case "allow_methods":
			s.AllowMethods, err = allowMethods(n)
		case "request_body":
			requestBody, err = requestBodyDirective(n)
		case "handle_errors":
			// Built below, once the site's own routes are.
		}
		if err != nil {
			return nil, err
		}
	}
	routes, err := b.block(sn.body, &scope{host: host}, s, false)
	if err != nil {
		return nil, err
	}
	if err := b.siteErrorRoutes(sn.body, host, s); err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.Directive == "file_server" && r.Match == nil && s.FileServer == nil {
			s.FileServer = r.FileServer
		}
	}
	applyServer(s, srv, b.cfg.Global.Limits)
	if requestBody > 0 {
		if s.Limits == nil {
			l := base
			s.Limits = &l
		}
		s.Limits.MaxBodySize = requestBody
	}
	if err := b.caddyTLS(s); err != nil {
		return nil, err
	}
	if s.TLS != nil && s.TLS.Mode == "off" {
		for _, a := range s.Addresses {
			if a.Scheme == "https" {
				return nil, errorf(s.TLS.Pos, "tls off: the site has the https address %q", a.Raw)
			}
		}
	}
	if err := b.tlsOnHTTPS(s); err != nil {
		return nil, err
	}
	if s.ImportJK != nil {
		proxies := len(s.Balancers)
		if err := b.expandJK(s, proxies); err != nil {
			return nil, err
		}
		jk := &Route{Directive: "import_jk", Balancers: s.Balancers[proxies:], Pos: s.ImportJK.Pos}
		routes = append(routes, jk)
		if fs := s.FileServer; fs != nil && !slices.ContainsFunc(routes, func(r *Route) bool { return r.FileServer == fs }) {
			routes = append(routes, &Route{Directive: "file_server", FileServer: fs, Pos: fs.Pos})
		}
	}
	if err := b.fileRoots(routes, s, true); err != nil {
		return nil, err
	}
	for _, er := range s.ErrorRoutes {
		if err := b.fileRoots(er.Routes, s, false); err != nil {
			return nil, err
		}
	}
	arrange(routes, true, &b.groups)
	s.Routes = routes
	return s, nil
}

// siteErrorRoutes builds the site's handle_errors blocks, in the site's
// scope (its named matchers and root): those with statuses first.
func (b *builder) siteErrorRoutes(body []*node, host string, s *Site) error {
	var sc *scope
	for _, n := range body {
		if n.name() != "handle_errors" {
			continue
		}
		if sc == nil {
			var err error
			if sc, err = b.scopeOf(body, &scope{host: host}); err != nil {
				return err
			}
		}
		er, err := b.handleErrors(n, sc, s)
		if err != nil {
			return err
		}
		s.ErrorRoutes = append(s.ErrorRoutes, er)
	}
	slices.SortStableFunc(s.ErrorRoutes, func(a, b *ErrorRoute) int {
		ea, eb := len(a.Statuses)+len(a.Classes) == 0, len(b.Statuses)+len(b.Classes) == 0
		switch {
		case ea == eb:
			return 0
		case eb:
			return -1
		}
		return 1
	})
	return nil
}

// fileRoots checks that every file_server and try_files of routes has a
// root: its own, its block's, or, for the site's, import_jk's doc_root;
// or that a root with a matcher may give it one.
func (b *builder) fileRoots(routes []*Route, s *Site, top bool) error {
	matched := hasMatchedRoot(s.Routes) || hasMatchedRoot(routes)
	for _, er := range s.ErrorRoutes {
		matched = matched || hasMatchedRoot(er.Routes)
	}
	return b.fileRootsIn(routes, s, top, matched)
}

func (b *builder) fileRootsIn(routes []*Route, s *Site, top, matched bool) error {
	for _, r := range routes {
		if err := b.fileRootsIn(r.Routes, s, false, matched); err != nil {
			return err
		}
		if tf := r.TryFiles; tf != nil && tf.Root == "" {
			if top && s.ImportJK != nil && s.ImportJK.DocRoot != "" {
				tf.Root = s.ImportJK.DocRoot
			} else if !matched {
				// Caddy looks in the working directory then.
				tf.Root = "."
				b.warn(tf.Pos, "try_files: no root: files are looked up in the working directory (set root DIR in its block or the site)")
			}
		}
		fs := r.FileServer
		if fs == nil || fs.Root != "" {
			continue
		}
		if top && s.ImportJK != nil && s.ImportJK.DocRoot != "" {
			fs.Root = s.ImportJK.DocRoot
			continue
		}
		if matched {
			continue // a root with a matcher gives it one, or the request gets 404
		}
		return errorf(fs.Pos, "file_server: no root (set root DIR in its block or the site)")
	}
	return nil
}

// siteNameHost is the host a site's unnamed balancers are named after:
// the first of its addresses whose host is a DNS name (not empty, not an IP
// literal, not "*"), or "default" when none is. Scheme, listen IP and port
// are left out on purpose: the proxies of a cluster key what they share
// (learned sessions, failover pins, operators' member states) by balancer
// name, and each proxy may write its sites with its own address or port.
func siteNameHost(addrs []Address) string {
	for _, a := range addrs {
		if a.Host == "" || a.Host == "*" {
			continue
		}
		if _, err := netip.ParseAddr(a.Host); err == nil {
			continue
		}
		return a.Host // parseAddress lowercased it
	}
	return "default"
}

// parseAddress parses a site address: [scheme://]host[:port] with host
// possibly empty, a wildcard or a bracketed IPv6 address.
func parseAddress(raw string) (Address, error) {
	a := Address{Raw: raw}
	rest := raw
	if scheme, r, ok := strings.Cut(raw, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http", "https":
			a.Scheme = strings.ToLower(scheme)
		default:
			return a, fmt.Errorf("scheme %q is not supported (want http or https)", scheme)
		}
		rest = r
	}
	if strings.ContainsAny(rest, "/?#@") {
		return a, errors.New("a site address is [scheme://]host[:port], without a path (mount paths on reverse_proxy)")
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return a, errors.New("unclosed '[' in IPv6 address")
		}
		host = rest[1:end]
		if after := rest[end+1:]; after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return a, fmt.Errorf("unexpected %q after the IPv6 address", after)
			}
			port = p
			if port == "" {
				return a, errors.New("empty port")
			}
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return a, fmt.Errorf("%q is not an IPv6 address", host)
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
		if strings.Contains(host, ":") {
			return a, errors.New("an IPv6 address must be in brackets")
		}
		if port == "" {
			return a, errors.New("empty port")
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return a, fmt.Errorf("bad port %q", port)
		}
		a.Port = n
	}
	host = strings.ToLower(host)
	for i := 0; i < len(host) && !strings.HasPrefix(rest, "["); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '*' || c >= 0x80) {
			return a, fmt.Errorf("bad character %q in host", c)
		}
	}
	a.Host = host
	return a, nil
}

// addressKey normalizes a for duplicate detection. Addresses with an
// explicit port 0 (a free port each) are never duplicates.
func (b *builder) addressKey(a Address) (string, bool) {
	g := b.cfg.Global
	scheme, port := a.Scheme, a.Port
	if port == 0 && strings.HasSuffix(a.Raw, ":0") {
		return "", false
	}
	if scheme == "" {
		scheme = "https"
		if port != 0 && port == g.HTTPPort {
			scheme = "http"
		}
	}
	if port == 0 {
		port = g.HTTPSPort
		if scheme == "http" {
			port = g.HTTPPort
		}
	}
	return scheme + "://" + a.Host + ":" + strconv.Itoa(port), true
}

// trustedProxies parses "trusted_proxies CIDR|IP|private_ranges ...".
func trustedProxies(n *node, s *Site) error {
	ps, err := prefixList(n)
	s.TrustedProxies = append(s.TrustedProxies, ps...)
	return err
}

// prefixList parses the arguments "CIDR|IP|private_ranges ..." of n.
func prefixList(n *node) ([]netip.Prefix, error) {
	if err := n.argc(1, -1); err != nil {
		return nil, err
	}
	if err := n.noBlock(); err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, t := range n.args[1:] {
		if t.text == "private_ranges" {
			out = append(out, privateRanges...)
			continue
		}
		p, ok := parsePrefix(t.text)
		if !ok {
			return nil, errorf(t.pos, "%s: %q is not a CIDR or IP address (or private_ranges)", n.name(), t.text)
		}
		out = append(out, p)
	}
	return out, nil
}

// tlsDirective parses "tls internal|off|CERT KEY" and "tls { on_demand; ask
// URL }", and the handshake settings of its block (tls.go).
func (b *builder) tlsDirective(n *node) (*TLS, error) {
	t := &TLS{Mode: "auto", Pos: n.args[0].pos}
	if err := n.argc(0, 2); err != nil {
		return nil, err
	}
	switch n.nargs() {
	case 0:
		if !n.hasBlock {
			return nil, errorf(n.args[0].pos, "tls: want internal, off, CERT KEY or a block")
		}
	case 1:
		switch n.arg(0).text {
		case "internal", "off":
			t.Mode = n.arg(0).text
		default:
			if a := n.arg(0).text; strings.Contains(a, "@") && !strings.ContainsAny(a, "/ ") {
				t.Email = a // Caddy's tls EMAIL: ACME with this account
				break
			}
			return nil, errorf(n.arg(0).pos, "tls: want internal, off, an ACME email or CERT KEY, got %q", n.arg(0).text)
		}
	case 2:
		t.Mode, t.CertFile, t.KeyFile = "files", n.arg(0).text, n.arg(1).text
	}
	if t.Mode == "off" {
		return t, n.noBlock()
	}
	var onDemand *node
	settings := map[string]Pos{}
	for _, s := range n.block {
		if ok, err := b.tlsSetting(s, t, settings); ok || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch s.name() {
		case "on_demand":
			if err := s.simple(0); err != nil {
				return nil, err
			}
			onDemand = s
			t.OnDemand = true
		case "ask":
			if err := s.simple(1); err != nil {
				return nil, err
			}
			if msg := checkURL(s.arg(0).text); msg != "" {
				return nil, errorf(s.arg(0).pos, "ask: %s", msg)
			}
			t.OnDemandAsk = s.arg(0).text
		case "challenges":
			if err := s.argc(1, 2); err != nil {
				return nil, err
			}
			if err := s.noBlock(); err != nil {
				return nil, err
			}
			for _, a := range s.args[1:] {
				c, err := oneOf(s, a, "challenges", []string{"http-01", "tls-alpn-01"})
				if err != nil {
					return nil, err
				}
				t.Challenges = append(t.Challenges, c)
			}
		case "dns", "resolvers", "propagation_timeout", "propagation_delay", "eab":
			if err := b.tlsACMEOption(t, s); err != nil {
				return nil, err
			}
		default:
			return nil, unknown(s, "tls option", []string{"on_demand", "ask", "challenges", "dns", "resolvers", "propagation_timeout", "propagation_delay", "eab", "protocols", "ciphers", "curves", "client_auth"}, nil, "")
		}
	}
	if err := checkTLSACME(t); err != nil {
		return nil, err
	}
	switch {
	case onDemand == nil && t.OnDemandAsk != "":
		return nil, errorf(t.Pos, "tls: ask is only used with on_demand")
	case onDemand != nil && t.Mode == "files":
		return nil, errorf(onDemand.args[0].pos, "on_demand: not with certificate files")
	case len(t.Challenges) > 0 && t.Mode != "auto":
		return nil, errorf(t.Pos, "tls: challenges are for ACME certificates, not tls %s", t.Mode)
	}
	if err := b.checkTLSSettings(t, n); err != nil {
		return nil, err
	}
	return t, nil
}

// fileServer parses "file_server [browse] [{ root DIR; index F...; browse }]".
func fileServer(n *node) (*FileServer, error) {
	fs := &FileServer{Index: []string{"index.html", "index.htm"}, Pos: n.args[0].pos}
	if err := n.argc(0, 1); err != nil {
		return nil, err
	}
	if n.nargs() == 1 {
		if n.arg(0).text != "browse" {
			return nil, errorf(n.arg(0).pos, "file_server: unexpected argument %q (want browse)", n.arg(0).text)
		}
		fs.Browse = true
	}
	seen := map[string]Pos{}
	for _, s := range n.block {
		if err := once(seen, s); err != nil {
			return nil, err
		}
		var err error
		switch s.name() {
		case "root":
			if err = s.simple(1); err == nil {
				fs.Root, err = nonEmpty(s, s.arg(0))
			}
		case "index":
			if err = s.argc(1, -1); err == nil {
				err = s.noBlock()
			}
			fs.Index = fs.Index[:0:0]
			for _, t := range s.args[1:] {
				fs.Index = append(fs.Index, t.text)
			}
		case "browse":
			err = s.simple(0)
			fs.Browse = true
		default:
			err = unknown(s, "file_server option", []string{"root", "index", "browse"}, nil, "")
		}
		if err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// refusedMethods are the methods a site refuses with 405 unless
// allow_methods names them: TRACE echoes the request (cross-site tracing),
// CONNECT asks for a tunnel a reverse proxy does not offer.
var refusedMethods = []string{"TRACE", "CONNECT"}

// allowMethods parses "allow_methods TRACE|CONNECT ...".
func allowMethods(n *node) ([]string, error) {
	if err := n.argc(1, -1); err != nil {
		return nil, err
	}
	if err := n.noBlock(); err != nil {
		return nil, err
	}
	var out []string
	for _, t := range n.args[1:] {
		m, err := oneOf(n, t, "method", refusedMethods)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// logFormats are the access log formats.
var logFormats = []string{"json", "console", "combined"}

// accessLog parses "access_log [OUTPUT [FORMAT]]" and its block form.
func accessLog(n *node) (*AccessLog, error) {
	al := &AccessLog{Output: "stderr", Format: "json", Pos: n.args[0].pos}
	if err := n.argc(0, 2); err != nil {
		return nil, err
	}
	if n.nargs() >= 1 {
		if n.hasBlock {
			return nil, errorf(n.open, "access_log: use arguments or a block, not both")
		}
		v, err := nonEmpty(n, n.arg(0))
		if err != nil {
			return nil, err
		}
		al.Output = v
	}
	if n.nargs() == 2 {
		f, err := oneOf(n, n.arg(1), "format", logFormats)
		if err != nil {
			return nil, err
		}
		al.Format = f
	}
	seen := map[string]Pos{}
	for _, s := range n.block {
		if err := once(seen, s); err != nil {
			return nil, err
		}
		var err error
		switch s.name() {
		case "output":
			if err = s.simple(1); err == nil {
				al.Output, err = nonEmpty(s, s.arg(0))
			}
		case "format":
			if err = s.simple(1); err == nil {
				al.Format, err = oneOf(s, s.arg(0), "format", logFormats)
			}
		default:
			err = unknown(s, "access_log option", []string{"output", "format"}, nil, "")
		}
		if err != nil {
			return nil, err
		}
	}
	return al, nil
}

// requestBodyDirective parses Caddy's request_body { max_size N }: the
// site's limits { max_body_size N } (413 beyond).
func requestBodyDirective(n *node) (int64, error) {
	if err := n.argc(0, 0); err != nil {
		return 0, err
	}
	var size int64
	for _, s := range n.block {
		if s.name() != "max_size" {
			return 0, unknown(s, "request_body option", []string{"max_size"}, nil, "")
		}
		if err := s.simple(1); err != nil {
			return 0, err
		}
		v, err := parseSize(s.arg(0).text)
		if err != nil || v == 0 {
			return 0, errorf(s.arg(0).pos, "max_size: %v", cmpErr(err, "want more than 0 bytes"))
		}
		size = v
	}
	if size == 0 {
		return 0, errorf(n.args[0].pos, "request_body: want a block with max_size")
	}
	return size, nil
}

func cmpErr(err error, msg string) string {
	if err != nil {
		return err.Error()
	}
	return msg
}

// caddyLog parses Caddy's site-level log, the site's access log:
//
//	log [NAME] {
//	    output stdout|stderr|discard|file PATH [{ ... }]
//	    format json|console
//	    level LEVEL
//	}
//
// File rolling options and level are warned about and not honoured (Tether
// reopens a renamed file on reload, for logrotate).
func (b *builder) caddyLog(n *node) (*AccessLog, error) {
	al := &AccessLog{Output: "stderr", Format: "json", Pos: n.args[0].pos}
	if err := n.argc(0, 1); err != nil {
		return nil, err
	}
	warn := func(p Pos, msg string) { b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: p, Msg: msg}) }
	seen := map[string]Pos{}
	for _, s := range n.block {
		if err := once(seen, s); err != nil {
			return nil, err
		}
		switch s.name() {
		case "output":
			if err := s.argc(1, 2); err != nil {
				return nil, err
			}
			switch o := s.arg(0).text; o {
			case "stdout", "stderr":
				if err := s.simple(1); err != nil {
					return nil, err
				}
				al.Output = o
			case "discard":
				return nil, nil // Caddy's way of not logging
			case "file":
				if s.nargs() != 2 {
					return nil, errorf(s.arg(0).pos, "log: output file: want a path")
				}
				al.Output = s.arg(1).text
				if s.hasBlock {
					warn(s.open, "log: output file options (roll_size, roll_keep, ...) are not honoured: rotate with logrotate, then reload (SIGHUP)")
				}
			default:
				return nil, errorf(s.arg(0).pos, "log: output %q: want stdout, stderr, discard or file PATH (%s is a Caddy module)", o, o)
			}
		case "format":
			if err := s.argc(1, 1); err != nil {
				return nil, err
			}
			f := s.arg(0).text
			if f == "filter" {
				// Caddy's filter encoder: the format it wraps, without the
				// field filters (Tether's access log has no request headers
				// or cookies to filter).
				var err error
				if f, err = filterWrap(s); err != nil {
					return nil, err
				}
				warn(s.args[0].pos, "log: format filter's fields are not honoured: the access log records no headers, cookies or query values to filter")
			} else if s.hasBlock {
				warn(s.open, "log: format options are not honoured")
			}
			if f != "json" && f != "console" {
				return nil, errorf(s.arg(0).pos, "log: format %q: want json, console or filter { wrap json|console } (or access_log's combined)", f)
			}
			al.Format = f
		case "level":
			if err := s.simple(1); err != nil {
				return nil, err
			}
			warn(s.args[0].pos, "log: level is not honoured: an access log records every request")
		default:
			return nil, unknown(s, "log option", []string{"output", "format", "level"}, nil, "")
		}
	}
	return al, nil
}

// filterWrap returns the format a Caddy "format filter { wrap F; fields
// {...} }" wraps (json by default, as Caddy's).
func filterWrap(s *node) (string, error) {
	f := "json"
	for _, o := range s.block {
		switch o.name() {
		case "wrap":
			if err := o.argc(1, 1); err != nil {
				return "", err
			}
			f = o.arg(0).text
		case "fields":
		default:
			return "", unknown(o, "format filter option", []string{"wrap", "fields"}, nil, "")
		}
	}
	return f, nil
}
