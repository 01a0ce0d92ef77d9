package config

import (
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// line appends one Caddyfile line at indent, coming from at.
func (t *apTrans) line(indent int, text string, at Pos) {
	t.out.WriteString(strings.Repeat("\t", indent))
	t.out.WriteString(text)
	t.out.WriteByte('\n')
	t.origins = append(t.origins, at)
}

// block appends a run of lines, indenting what is inside braces.
func (t *apTrans) block(indent int, b apBlock) {
	for _, l := range b.lines {
		if l == "}" {
			indent--
		}
		t.line(indent, l, b.at)
		if strings.HasSuffix(l, "{") {
			indent++
		}
	}
}

// apSite is one site to write: a server and the addresses it answers.
type apSite struct {
	s     *apServer
	addrs []string
	https bool
}

// write writes every site.
func (t *apTrans) write() error {
	used := map[string]Pos{} // site addresses taken
	var sites []*apSite
	// Which listeners httpd has: without a Listen (a fragment) every
	// VirtualHost port is taken as listened on.
	listened := func(a apAddr) bool {
		if len(t.listens) == 0 {
			return true
		}
		return slices.ContainsFunc(t.listens, func(l apAddr) bool {
			return l.port == a.port && (l.host == "" || a.host == "" || l.host == a.host)
		})
	}
	if len(t.listens) == 0 && len(t.vhosts) > 0 {
		t.warn(t.vhosts[0].pos, "no Listen directive was read (a fragment of a configuration?): every VirtualHost port is taken as one httpd listens on")
	}
	defaultFor := map[string]bool{} // "port" or "ip:port" whose default (first) virtual host is written
	for _, v := range t.vhosts {
		e := t.effective(v)
		site := &apSite{s: e, https: e.ssl.engine != nil && *e.ssl.engine}
		scheme := "http"
		if site.https {
			scheme = "https"
		}
		for _, a := range v.addrs {
			ports := []int{a.port}
			if a.port == 0 {
				ports = nil
				for _, l := range t.listens {
					if !slices.Contains(ports, l.port) {
						ports = append(ports, l.port)
					}
				}
				if len(ports) == 0 {
					ports = []int{80}
				}
			}
			for _, port := range ports {
				pa := apAddr{host: a.host, port: port, at: a.at}
				if !listened(pa) {
					t.warn(a.at, "<VirtualHost %s>: httpd listens on no port %d (no Listen), so it never serves this address; not imported", v.vhost.args[0].text, port)
					continue
				}
				add := func(host string) {
					raw := scheme + "://" + apHostPort(host, port)
					key := scheme + "|" + strconv.Itoa(port) + "|" + host
					if prev, dup := used[key]; dup {
						t.warn(a.at, "<VirtualHost %s>: %s is already served by the virtual host at %s (httpd uses the first too); not imported here", v.vhost.args[0].text, raw, prev)
						return
					}
					used[key] = v.pos
					site.addrs = append(site.addrs, raw)
				}
				_, ipErr := netip.ParseAddr(a.host)
				switch {
				case a.host == "":
					if e.name != "" && !apIsIP(e.name) && jkHostName(e.name) {
						add(e.name)
					}
					for _, al := range e.aliases {
						if strings.ContainsAny(al.text, "?[") || strings.Contains(strings.TrimPrefix(al.text, "*."), "*") {
							t.warn(al.pos, "ServerAlias %s: Tether's host wildcards are *.domain only; not imported", al.text)
							continue
						}
						if !jkHostName(strings.TrimPrefix(al.text, "*.")) {
							t.warn(al.pos, "ServerAlias %s: not a host name (httpd compares it with the request's host, without its port, so it never matches); not imported", al.text)
							continue
						}
						add(strings.ToLower(al.text))
					}
					if dk := strconv.Itoa(port); !defaultFor[dk] {
						// httpd's first virtual host of an address answers
						// the hosts no other names.
						defaultFor[dk] = true
						add("")
					}
				case ipErr == nil:
					dk := a.host + ":" + strconv.Itoa(port)
					if defaultFor[dk] {
						t.warn(a.at, "<VirtualHost %s>: a second name-based virtual host on one IP address; Tether cannot bind host names to one address, so the first virtual host serves it; not imported", v.vhost.args[0].text)
						continue
					}
					defaultFor[dk] = true
					add(a.host)
					if e.name != "" && !apIsIP(e.name) && e.name != a.host {
						t.warn(a.at, "<VirtualHost %s> (ServerName %s): Tether serves every host name on %s with it, as httpd does while it is the only virtual host there", v.vhost.args[0].text, e.name, dk)
					}
				default:
					t.warn(a.at, "<VirtualHost %s>: httpd resolves the host name to its addresses when it starts; Tether serves the name on every address", v.vhost.args[0].text)
					add(a.host)
				}
			}
		}
		if len(site.addrs) > 0 {
			sites = append(sites, site)
		}
	}
	// The main server answers on the listeners no virtual host covers.
	ms := &apSite{s: t.mainEffective(), https: t.main.ssl.engine != nil && *t.main.ssl.engine}
	for _, l := range t.listens {
		covered := slices.ContainsFunc(t.vhosts, func(v *apServer) bool {
			return slices.ContainsFunc(v.addrs, func(a apAddr) bool {
				return (a.port == 0 || a.port == l.port) && (a.host == "" || a.host == l.host)
			})
		})
		if covered {
			continue
		}
		scheme := "http"
		if ms.https {
			scheme = "https"
		}
		key := scheme + "|" + strconv.Itoa(l.port) + "|" + l.host
		if _, dup := used[key]; dup {
			continue
		}
		used[key] = l.at
		ms.addrs = append(ms.addrs, scheme+"://"+apHostPort(l.host, l.port))
	}
	if len(ms.addrs) > 0 {
		sites = append([]*apSite{ms}, sites...)
	}
	for i, site := range sites {
		if i > 0 {
			t.line(0, "", site.s.pos)
		}
		if err := t.site(site); err != nil {
			return err
		}
	}
	return nil
}

func apIsIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

func apHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// mainEffective is the main server as its own site.
func (t *apTrans) mainEffective() *apServer {
	m := *t.main
	return &m
}

// effective returns virtual host v with what it inherits from the main
// server, as httpd merges each module's configuration.
func (t *apTrans) effective(v *apServer) *apServer {
	m := t.main
	e := *v
	if e.name == "" {
		e.name, e.namePos = m.name, m.namePos
	}
	if e.docRoot == "" {
		e.docRoot, e.docAt = m.docRoot, m.docAt
	}
	if e.ssl.engine == nil {
		e.ssl.engine, e.ssl.engineAt = m.ssl.engine, m.ssl.engineAt
	}
	if e.ssl.cert == "" {
		e.ssl.cert, e.ssl.key, e.ssl.certAt = m.ssl.cert, m.ssl.key, m.ssl.certAt
	}
	inheritSSL(&e, m)
	e.headers = append(slices.Clone(m.headers), v.headers...)       // mod_headers: the server's, then the host's
	e.redirects = append(slices.Clone(v.redirects), m.redirects...) // mod_alias: the host's first
	e.proxies = nil                                                 // mod_proxy: the server's ProxyPass lines, then the host's
	for _, p := range m.proxies {
		c := *p
		c.inherit = true
		e.proxies = append(e.proxies, &c)
	}
	e.proxies = append(e.proxies, v.proxies...)
	e.balancers = map[string]*apBalancer{}
	for k, b := range m.balancers {
		e.balancers[k] = b
	}
	for k, b := range v.balancers {
		e.balancers[k] = b
	}
	if e.preserveHost == nil {
		e.preserveHost = m.preserveHost
	}
	if len(e.deflate) == 0 {
		e.deflate, e.deflateAt = m.deflate, m.deflateAt
	}
	if !e.limitSet {
		e.limit, e.limitAt, e.limitSet = m.limit, m.limitAt, m.limitSet
	}
	if len(e.trusted) == 0 {
		e.trusted, e.trustedAt = m.trusted, m.trustedAt
	}
	// mod_jk: a host's own mounts, plus the server's with JkMountCopy; a
	// host without mounts of its own has the server's only with
	// JkMountCopy (merge_jk_config and jk_post_config in mod_jk 1.2.48).
	copyOn := v.jkCopy == 1 || v.jkCopy == -1 && t.jkCopyAll
	own := len(v.jkMounts) > 0 || v.jkMountFile != ""
	switch {
	case own && copyOn:
		keys := map[string]bool{}
		for _, mt := range v.jkMounts {
			keys[apJKKey(mt)] = true
		}
		for _, mt := range m.jkMounts {
			if !keys[apJKKey(mt)] {
				e.jkMounts = append(e.jkMounts, mt)
			}
		}
		if e.jkMountFile == "" {
			e.jkMountFile, e.jkFileAt = m.jkMountFile, m.jkFileAt
		}
	case !own && copyOn:
		e.jkMounts, e.jkMountFile, e.jkFileAt, e.jkAt = m.jkMounts, m.jkMountFile, m.jkFileAt, m.jkAt
	case !own && (len(m.jkMounts) > 0 || m.jkMountFile != ""):
		t.warn(v.pos, "<VirtualHost %s>: the main server's JkMount lines do not apply here (no JkMountCopy), as in mod_jk", v.vhost.args[0].text)
	}
	return &e
}

func apJKKey(m JKMount) string {
	if m.Exclude {
		return "!" + m.Pattern
	}
	return m.Pattern
}

// site writes one site block.
func (t *apTrans) site(site *apSite) error {
	s := site.s
	t.records = append(t.records, apSiteRecord{addrs: site.addrs, jkWorkers: t.jkWorkers, jkProps: t.jkProps, jkMountF: s.jkMountFile,
		jkMounts: s.jkMounts, proxies: s.proxies, docRoot: s.docRoot, hasRewrite: len(s.rewrites)+len(s.redirects) > 0})
	at := s.pos
	what := "the main server"
	if s.vhost != nil {
		what = "<VirtualHost " + strings.Join(s.vhost.argTexts(), " ") + ">"
	}
	t.line(0, "# "+what+" at "+at.String(), at)
	t.line(0, strings.Join(site.addrs, ", ")+" {", at)
	if site.https {
		settings, err := t.tlsSettings(s)
		if err != nil {
			return err
		}
		head, headAt := "tls", s.ssl.engineAt
		switch {
		case s.ssl.cert != "":
			key := s.ssl.key
			if key == "" {
				key = s.ssl.cert // httpd reads the key from the certificate file then
			}
			head, headAt = "tls "+quoteToken(s.ssl.cert)+" "+quoteToken(key), s.ssl.certAt
		default:
			t.warn(s.ssl.engineAt, "SSLEngine on without SSLCertificateFile (httpd does not start so); Tether gets a certificate itself (ACME, or its internal CA for IP addresses)")
		}
		switch {
		case len(settings) > 0:
			t.line(1, head+" {", headAt)
			for _, b := range settings {
				t.block(2, b)
			}
			t.line(1, "}", headAt)
		case head != "tls":
			t.line(1, head, headAt)
		}
	}
	if t.remoteIP && len(s.trusted) > 0 {
		t.line(1, "trusted_proxies "+strings.Join(s.trusted, " "), s.trustedAt)
	}
	for _, h := range s.headers {
		t.block(1, h)
	}
	if s.limitSet && s.limit > 0 {
		t.line(1, "request_body {", s.limitAt)
		t.line(2, "max_size "+strconv.FormatInt(s.limit, 10), s.limitAt)
		t.line(1, "}", s.limitAt)
	}
	if len(s.deflate) > 0 {
		t.line(1, "encode gzip", s.deflateAt)
		var other []string
		for _, ty := range s.deflate {
			if !apCompressible(ty) {
				other = append(other, ty)
			}
		}
		if len(other) > 0 {
			t.warn(s.deflateAt, "AddOutputFilterByType DEFLATE %s: Tether compresses the types Caddy compresses (text, JSON, JavaScript, XML, SVG, ...), not these", strings.Join(other, " "))
		}
	}
	if len(s.rewrites)+len(s.redirects) > 0 {
		// mod_rewrite's rules run before mod_alias's redirects, each in
		// order: a route block keeps that order.
		first := s.redirects
		if len(s.rewrites) > 0 {
			first = s.rewrites
		}
		t.line(1, "route {", first[0].at)
		t.rules(2, append(slices.Clone(s.rewrites), s.redirects...))
		t.line(1, "}", first[0].at)
	}
	t.proxies(s)
	t.jk(s)
	if s.docRoot != "" {
		t.line(1, "file_server {", s.docAt)
		t.line(2, "root "+quoteToken(s.docRoot), s.docAt)
		t.line(1, "}", s.docAt)
	}
	t.line(0, "}", at)
	return nil
}

// rules writes a site's rewrites and redirects in order. A rewrite with
// [L] (or [END], [PT]) ends the rules for the requests it rewrites, as in
// httpd: it is a handle block, and the rules after it a handle block
// beside it, which only the requests it does not match enter.
func (t *apTrans) rules(indent int, rules []apBlock) {
	for i, b := range rules {
		if b.last == "" {
			t.block(indent, b)
			continue
		}
		t.block(indent, apBlock{lines: b.lines, at: b.at})
		t.line(indent, "handle @"+b.last+" {", b.at)
		t.block(indent+1, apBlock{lines: b.inner, at: b.at})
		t.line(indent, "}", b.at)
		if rest := rules[i+1:]; len(rest) > 0 {
			t.line(indent, "handle {", b.at)
			t.rules(indent+1, rest)
			t.line(indent, "}", b.at)
		}
		return
	}
}

// apCompressibleTypes are the types Tether's encode compresses (Caddy's
// defaults), by prefix.
var apCompressibleTypes = []string{"text/", "application/json", "application/javascript", "application/x-javascript",
	"application/xml", "application/xhtml+xml", "application/rss+xml", "application/atom+xml", "image/svg+xml",
	"application/ld+json", "application/manifest+json", "application/wasm", "font/", "image/x-icon", "application/vnd.ms-fontobject"}

func apCompressible(ty string) bool {
	return slices.ContainsFunc(apCompressibleTypes, func(p string) bool { return strings.HasPrefix(strings.ToLower(ty), p) })
}

// jk writes the site's import_jk: the workers file, the mount file and
// the JkMount lines that apply to it.
func (t *apTrans) jk(s *apServer) {
	if len(s.jkMounts) == 0 && s.jkMountFile == "" {
		return
	}
	at := s.jkAt
	if at.Line == 0 {
		at = s.jkFileAt
	}
	head := "import_jk"
	if t.jkWorkers != "" {
		head += " " + quoteToken(t.jkWorkers)
		if s.jkMountFile != "" {
			head += " " + quoteToken(s.jkMountFile)
		}
	}
	type bodyLine struct {
		text string
		at   Pos
	}
	var body []bodyLine
	if t.jkWorkers == "" && s.jkMountFile != "" {
		body = append(body, bodyLine{"mount_file " + quoteToken(s.jkMountFile), s.jkFileAt})
	}
	for _, p := range t.jkProps {
		body = append(body, bodyLine{"worker_property " + quoteToken(p.Line), p.Pos})
	}
	var mounts []JKMount
	index := map[string]int{}
	for _, m := range s.jkMounts {
		if i, ok := index[apJKKey(m)]; ok {
			mounts[i].Worker = m.Worker // a map by path in mod_jk: the last worker wins
			continue
		}
		index[apJKKey(m)] = len(mounts)
		mounts = append(mounts, m)
	}
	for _, m := range mounts {
		op := "mount"
		if m.Exclude {
			op = "unmount"
		}
		body = append(body, bodyLine{op + " " + quoteToken(m.Pattern) + " " + quoteToken(m.Worker), m.Pos})
	}
	if t.jkWorkers == "" && len(t.jkProps) == 0 {
		t.warn(at, "no JkWorkersFile: mod_jk uses its default worker ajp13 (localhost:8009), so does Tether")
	}
	if len(body) == 0 {
		t.line(1, head, at)
		return
	}
	t.line(1, head+" {", at)
	for _, b := range body {
		t.line(2, b.text, b.at)
	}
	t.line(1, "}", at)
}

// proxies writes the site's ProxyPass lines as reverse_proxy blocks.
// httpd takes the first ProxyPass whose path matches, in order; each is
// written with the paths of the earlier ones excluded, so that Tether's
// own ordering of reverse_proxy blocks cannot change the choice.
func (t *apTrans) proxies(s *apServer) {
	var earlier []*apProxyPass
	for _, p := range s.proxies {
		prev := earlier
		earlier = append(earlier, p)
		if p.url == "!" {
			continue
		}
		var excl []string
		regexBefore := false
		for _, q := range prev {
			if q.regexp {
				regexBefore = true
				continue
			}
			if p.regexp || apPrefixOverlap(q.path, p.path) {
				excl = append(excl, apPrefixPatterns(q.path)...)
			}
		}
		if regexBefore {
			t.warn(p.at, "ProxyPass %s: an earlier ProxyPassMatch may take some of its paths in httpd; Tether does not exclude them here", p.path)
		}
		for _, q := range prev {
			if !q.regexp && !p.regexp && strings.HasPrefix(p.path, strings.TrimSuffix(q.path, "/")) && q.path != p.path && apPrefixOverlap(q.path, p.path) && len(q.path) < len(p.path) {
				t.warn(p.at, "ProxyPass %s: the earlier ProxyPass %s (at %s) takes all of its paths in httpd; Tether writes it anyway, it serves nothing", p.path, q.path, q.at)
			}
		}
		t.proxy(s, p, excl)
	}
}

// apPrefixOverlap reports whether two httpd prefixes share a path.
func apPrefixOverlap(a, b string) bool {
	a, b = strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/")
	return a == b || strings.HasPrefix(b+"/", a+"/") || strings.HasPrefix(a+"/", b+"/")
}

// proxy writes one ProxyPass.
func (t *apTrans) proxy(s *apServer, p *apProxyPass, excl []string) {
	u, err := url.Parse(p.url)
	if err != nil || u.Host == "" && !strings.HasPrefix(strings.ToLower(p.url), "balancer://") {
		t.warn(p.at, "ProxyPass %s %s: not a URL Tether can proxy to; not imported", p.path, p.url)
		return
	}
	scheme := strings.ToLower(u.Scheme)
	var members []apMemberDef
	var bal *apBalancer
	name := ""
	switch scheme {
	case "balancer":
		bal = s.balancers[strings.ToLower(u.Host)]
		if bal == nil || len(bal.members) == 0 {
			t.warn(p.at, "ProxyPass %s %s: no BalancerMember defines balancer://%s for this server; not imported (httpd answers 503)", p.path, p.url, u.Host)
			return
		}
		members, name = bal.members, bal.name
	case "http", "https", "ajp":
		members = []apMemberDef{{url: scheme + "://" + u.Host, params: p.params, at: p.at}}
		name = u.Hostname()
	default:
		t.warn(p.at, "ProxyPass %s %s: the %s scheme is not supported (http, https, ajp and balancer are); not imported", p.path, p.url, scheme)
		return
	}
	name = t.balancerName(name)
	target := u.EscapedPath()
	if target == "" {
		target = "/"
	}
	// The path httpd sends: the matched prefix replaced by the URL's path.
	identity := !p.regexp && (target == p.path || target == "/" && p.path == "/" || strings.TrimSuffix(target, "/") == strings.TrimSuffix(p.path, "/") && strings.HasSuffix(target, "/") == strings.HasSuffix(p.path, "/"))
	var opts []string
	params := p.params
	if bal != nil {
		params = append(slices.Clone(bal.params), p.params...)
	}
	opts = append(opts, "name "+name)
	memberOpts, ok := t.members(members, bal != nil, s, p)
	if !ok {
		return
	}
	opts = append(opts, memberOpts...)
	opts = append(opts, t.balancerParams(params, bal != nil, len(members), p)...)
	if preserve := s.preserveHost != nil && *s.preserveHost; !preserve && scheme != "ajp" && !(bal != nil && slices.ContainsFunc(members, func(m apMemberDef) bool { return strings.HasPrefix(strings.ToLower(m.url), "ajp://") })) {
		opts = append(opts, "header_up Host {upstream_hostport}")
	}
	at := p.at
	if identity {
		head := "reverse_proxy " + strings.Join(apPrefixPatterns(p.path), " ")
		for _, e := range excl {
			head += " !" + e
		}
		t.line(1, head+" {", at)
		t.block(2, apBlock{lines: opts, at: at})
		t.line(1, "}", at)
		return
	}
	cond := []string{"path " + strings.Join(apPrefixPatterns(p.path), " ")}
	from := "^" + regexp.QuoteMeta(strings.TrimSuffix(p.path, "/"))
	repl := strings.TrimSuffix(target, "/")
	if strings.HasSuffix(p.path, "/") != strings.HasSuffix(target, "/") {
		t.warn(p.at, "ProxyPass %s %s: one of the two ends with / and the other does not; httpd joins them as written, Tether with one /", p.path, p.url)
	}
	if repl == "" {
		from, repl = from+"/?", "/" // /other and /other/x become / and /x
	}
	if p.regexp {
		cond = []string{"path_regexp " + quoteToken(p.path)}
		from = "^(?:.*?)(?:" + p.path + ")(?:.*)$"
		repl = apGoRepl(target)
	}
	if len(excl) > 0 {
		cond = append(cond, "not path "+strings.Join(excl, " "))
	}
	mname, def := t.matcher(cond...)
	for _, l := range def {
		t.line(1, l, at)
	}
	t.line(1, "handle @"+mname+" {", at)
	t.line(2, "uri path_regexp "+quoteToken(from)+" "+quoteToken(strings.ReplaceAll(repl, "$$", "$")), at)
	t.line(2, "reverse_proxy {", at)
	t.block(3, apBlock{lines: opts, at: at})
	t.line(2, "}", at)
	t.line(1, "}", at)
}

// balancerName returns name, or name-2, -3... when taken: every ProxyPass
// is a balancer of its own in Tether.
func (t *apTrans) balancerName(name string) string {
	n := t.bals[name]
	t.bals[name] = n + 1
	if !validName(name) {
		name = "proxy"
	}
	if n == 0 {
		return name
	}
	return name + "-" + strconv.Itoa(n+1)
}

// members writes the backend lines of a ProxyPass's members.
func (t *apTrans) members(ms []apMemberDef, balanced bool, s *apServer, p *apProxyPass) ([]string, bool) {
	var out []string
	var secret, retry, connect, timeout string
	ping := false
	names := map[string]bool{}
	for _, m := range ms {
		u, err := url.Parse(m.url)
		scheme := ""
		if err == nil {
			scheme = strings.ToLower(u.Scheme)
		}
		if err != nil || u.Host == "" || !slices.Contains([]string{"http", "https", "ajp"}, scheme) {
			t.warn(m.at, "BalancerMember %s: only http://, https:// and ajp:// members are supported; not imported", m.url)
			continue
		}
		name, state, weight, redirect := u.Host, "", "", ""
		for _, a := range m.params {
			k, v, _ := strings.Cut(a.text, "=")
			switch strings.ToLower(k) {
			case "route":
				name = v
			case "loadfactor":
				if n, err := strconv.Atoi(v); err == nil && n > 1 {
					weight = strconv.Itoa(n)
				}
			case "redirect":
				redirect = v
			case "status":
				state = t.memberStatus(a, v)
			case "secret":
				if secret != "" && secret != v {
					t.warn(a.pos, "secret: the members set different AJP secrets; Tether has one per balancer and uses the first")
				} else {
					secret = v
				}
			case "retry":
				retry = v
			case "connectiontimeout":
				connect = v
			case "timeout":
				timeout = v
			case "ping":
				ping = true
			case "keepalive", "ttl", "max", "smax", "min", "acquire", "disablereuse", "enablereuse", "flushpackets", "flushwait", "iobuffersize", "receivebuffersize", "lbset", "hcmethod", "hcinterval", "hcpasses", "hcfails", "hcuri", "hcexpr", "hctemplate":
				t.warn(a.pos, "BalancerMember ... %s: not imported", a.text)
			default:
				if !balanced {
					// ProxyPass's balancer keys are read by balancerParams.
					continue
				}
				t.warn(a.pos, "BalancerMember ... %s: not imported", a.text)
			}
		}
		if !validName(name) || names[name] {
			t.warn(m.at, "BalancerMember %s: the member name %q is not one Tether can use (or is used twice); named after its address", m.url, name)
			name = u.Host
		}
		names[name] = true
		line := "backend " + quoteToken(name) + " " + quoteToken(scheme+"://"+u.Host)
		var sub []string
		if weight != "" {
			sub = append(sub, "weight "+weight)
		}
		if redirect != "" {
			sub = append(sub, "redirect "+quoteToken(redirect))
		}
		if state != "" {
			sub = append(sub, "state "+state)
		}
		if len(sub) > 0 {
			line += " {\n" + strings.Join(sub, "\n") + "\n}"
		}
		out = append(out, strings.Split(line, "\n")...)
		if u.Path != "" && u.Path != "/" {
			t.warn(m.at, "BalancerMember %s: the member's path is not imported (Tether sends the path the ProxyPass maps)", m.url)
		}
	}
	if len(out) == 0 {
		t.warn(p.at, "ProxyPass %s %s: no member Tether can use; not imported", p.path, p.url)
		return nil, false
	}
	if secret != "" {
		out = append(out, "ajp_secret "+quoteToken(secret))
	}
	if ping {
		out = append(out, "ajp_ping on")
	}
	if retry != "" {
		if n, err := strconv.Atoi(retry); err == nil && n > 0 {
			out = append(out, "recover_time "+strconv.Itoa(n)+"s")
		}
	}
	if connect != "" {
		if d, ok := apSeconds(connect); ok {
			out = append(out, "dial_timeout "+d)
		}
	}
	if timeout != "" {
		if d, ok := apSeconds(timeout); ok {
			out = append(out, "response_header_timeout "+d)
		}
	}
	return out, true
}

// apSeconds reads httpd's timeout value (seconds, or "500ms") as a
// Caddyfile duration.
func apSeconds(v string) (string, bool) {
	if strings.HasSuffix(v, "ms") {
		if n, err := strconv.Atoi(strings.TrimSuffix(v, "ms")); err == nil && n > 0 {
			return strconv.Itoa(n) + "ms", true
		}
		return "", false
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return strconv.Itoa(n) + "s", true
	}
	return "", false
}

// memberStatus maps a BalancerMember status flag list to a Tether state.
func (t *apTrans) memberStatus(a apArg, v string) string {
	state := ""
	on := true
	for _, c := range v {
		switch c {
		case '+':
			on = true
		case '-':
			on = false
		case 'D', 'd':
			if on {
				state = "stopped" // mod_proxy_balancer's disabled takes no request at all
			}
		case 'S', 's':
			if on {
				state = "stopped"
			}
		case 'N', 'n':
			if on && state == "" {
				state = "disabled" // drain: only its sessions, as mod_jk's disabled
			}
		case 'H', 'h', 'R', 'r':
			if on {
				t.warn(a.pos, "status=%s: hot standby and spare members are not supported; imported disabled (its sessions only, never new ones)", v)
				if state == "" {
					state = "disabled"
				}
			}
		case 'I', 'i', 'E', 'e', 'C', 'c':
			t.warn(a.pos, "status=%s: the flag %c is not imported", v, c)
		}
	}
	return state
}

// balancerParams maps ProxySet and ProxyPass key=value settings.
func (t *apTrans) balancerParams(params []apArg, balanced bool, members int, p *apProxyPass) []string {
	var out []string
	sticky := ""
	var stickyAt Pos
	method := "least_requests" // mod_proxy_balancer's default byrequests
	for _, a := range params {
		k, v, _ := strings.Cut(a.text, "=")
		switch strings.ToLower(k) {
		case "stickysession":
			sticky, stickyAt = v, a.pos
		case "lbmethod":
			switch strings.ToLower(v) {
			case "byrequests":
			case "bybusyness":
				method = "least_busy"
			case "bytraffic":
				t.warn(a.pos, "lbmethod=bytraffic: balancing by bytes is not supported; least_requests is the closest")
			default:
				t.warn(a.pos, "lbmethod=%s: not supported; least_requests (byrequests)", v)
			}
		case "nofailover":
			if strings.EqualFold(v, "on") {
				out = append(out, "sticky_force on")
			}
		case "maxattempts":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				out = append(out, "retries "+strconv.Itoa(min(n, max(members-1, 0))))
			}
		case "failonstatus":
			var codes []string
			for c := range strings.SplitSeq(v, ",") {
				if n, err := strconv.Atoi(strings.TrimSpace(c)); err == nil && n >= 100 && n <= 599 {
					codes = append(codes, strconv.Itoa(n))
				}
			}
			if len(codes) > 0 {
				out = append(out, "fail_on_status "+strings.Join(codes, " "))
			}
		case "stickysessionsep":
			if v != "." && v != `"."` {
				t.warn(a.pos, "stickysessionsep=%s: Tether splits the route at the first '.'", v)
			}
		case "scolonpathdelim", "forcerecovery", "nonce", "growth":
			// Tether reads ;jsessionid= as mod_jk does; recovery, the
			// balancer-manager nonce and spare slots are its own.
		case "timeout", "failontimeout", "lbset", "route", "redirect", "secret", "retry", "connectiontimeout", "ping", "loadfactor", "status":
			if balanced && !strings.EqualFold(k, "timeout") {
				t.warn(a.pos, "%s: a member setting given to the balancer; not imported", a.text)
			}
		default:
			t.warn(a.pos, "%s: not imported", a.text)
		}
	}
	if balanced || sticky != "" {
		if sticky == "" {
			out = append(out, "sticky off")
		} else {
			cookie, param, ok := strings.Cut(sticky, "|")
			if !ok {
				param = cookie
			}
			if cookie != "JSESSIONID" {
				out = append(out, "sticky_cookie "+quoteToken(cookie))
			}
			if param != "jsessionid" {
				out = append(out, "sticky_path_param "+quoteToken(param))
			}
			t.warn(stickyAt, "stickysession=%s: Tether reads the route from the %s cookie and ;%s= in the path, not from a ?%s= query parameter as mod_proxy_balancer also does", sticky, cookie, param, param)
		}
	}
	if balanced {
		out = append(out, "lb_policy "+method)
	}
	return out
}
