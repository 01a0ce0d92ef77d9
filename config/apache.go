package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ImportApache records an import_apache global option: the httpd
// configuration whose virtual hosts become sites.
type ImportApache struct {
	File       string   // httpd.conf, joined to the directory of the Caddyfile that names it
	ServerRoot string   // "" for the directory of File; a ServerRoot line overrides it
	Defines    []string // names defined as with httpd -D
	Pos        Pos
}

// ApacheImport is what ApacheCaddyfile makes of an httpd configuration.
type ApacheImport struct {
	// Caddyfile holds one site block per virtual host (and one for the
	// main server where it answers), without a global options block.
	Caddyfile []byte
	// Origins[i] is the httpd configuration position line i+1 of
	// Caddyfile comes from, so that a config error names httpd.conf.
	Origins []Pos
	// Warnings name each directive that is not imported, or not exactly.
	Warnings []Warning

	// sites records what each written site was made of, for the tests
	// that check its routing against httpd's own rules.
	sites []apSiteRecord
}

// apSiteRecord is what a written site routes with: its addresses, the
// mod_jk files and mounts, and the ProxyPass lines in order.
type apSiteRecord struct {
	addrs      []string
	jkWorkers  string
	jkProps    []JKProperty
	jkMountF   string
	jkMounts   []JKMount
	proxies    []*apProxyPass
	docRoot    string
	hasRewrite bool
}

// ApacheCaddyfile reads the httpd configuration ia names as httpd does
// (apacheconf.go) and writes its sites as a Caddyfile: what concerns the
// front door (mod_jk, mod_proxy_balancer and mod_proxy, mod_ssl,
// mod_headers, mod_alias redirects, simple mod_rewrite rules, mod_deflate,
// LimitRequestBody, mod_remoteip, DocumentRoot) becomes directives; every
// other directive is a warning at its file:line. Errors are *Error values
// in the httpd files, or a plain error when ia.File cannot be read.
func (o ParseOptions) ApacheCaddyfile(ia ImportApache) (*ApacheImport, error) {
	o = o.withDefaults()
	ds, r, err := readApache(o, ia.File, ia.ServerRoot, ia.Defines)
	if err != nil {
		return nil, err
	}
	t := &apTrans{r: r, opts: o, main: &apServer{}, bals: map[string]int{}}
	t.main.pos = Pos{File: ia.File, Line: 1, Col: 1}
	if err := t.server(t.main, ds, nil); err != nil {
		return nil, err
	}
	if err := t.write(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(r.warns, func(a, b Warning) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return &ApacheImport{Caddyfile: []byte(t.out.String()), Origins: t.origins, Warnings: r.warns, sites: t.records}, nil
}

// apServer is the main server or one virtual host, as far as the import
// reads it.
type apServer struct {
	vhost   *apDirective // the <VirtualHost> section; nil for the main server
	pos     Pos
	addrs   []apAddr
	name    string
	namePos Pos
	aliases []apArg
	docRoot string
	docAt   Pos

	ssl apSSL

	// mod_jk
	jkMounts    []JKMount
	jkMountFile string
	jkFileAt    Pos
	jkCopy      int // -1 unset, 0 off, 1 on
	jkAt        Pos // the first JkMount, JkUnMount or JkMountFile

	// mod_proxy
	proxies      []*apProxyPass
	balancers    map[string]*apBalancer // by lowercase name
	preserveHost *bool

	// request-phase rules, in order: RewriteRule then Redirect (mod_rewrite
	// runs first in httpd), each already written as Caddyfile lines.
	rewriteOn   bool
	pendingCond bool // a RewriteCond waits for its RewriteRule
	rewrites    []apBlock
	redirects   []apBlock
	headers     []apBlock // header / request_header lines
	deflate     []string
	deflateAt   Pos
	limit       int64
	limitAt     Pos
	limitSet    bool
	trusted     []string
	trustedAt   Pos
}

// apSSL is a server's mod_ssl settings.
type apSSL struct {
	engine               *bool
	engineAt             Pos
	cert, key, chain, ca string
	certAt, caAt         Pos
	caPath               string
	caPathAt             Pos

	protocols    apProto
	protocolSet  bool
	protocolAt   Pos
	protocolArgs string
	ciphers      apCipherSpec
	verify       string // none, optional, require, optional_no_ca; "" unset
	verifyAt     Pos
	depth        int
	depthSet     bool
	depthAt      Pos
}

// apAddr is one address of a <VirtualHost> or a Listen.
type apAddr struct {
	host string // "" for * and _default_
	port int    // 0: any port (a VirtualHost without one)
	at   Pos
}

// apBlock is a run of Caddyfile lines for one httpd directive.
type apBlock struct {
	lines []string
	at    Pos
	// last names the matcher (defined by lines) of a rewrite with [L]:
	// inner rewrites what it matches, and no rule after it applies then.
	last  string
	inner []string
}

// apProxyPass is one ProxyPass or ProxyPassMatch.
type apProxyPass struct {
	path    string // the prefix, or the regexp for ProxyPassMatch
	regexp  bool
	url     string // "!" for an exclusion
	params  []apArg
	at      Pos
	inherit bool // the main server's, seen by a virtual host
}

// apBalancer is one <Proxy balancer://NAME> with its members and settings.
type apBalancer struct {
	name    string
	at      Pos
	members []apMemberDef
	params  []apArg // ProxySet and ProxyPass key=value
}

// apMemberDef is one BalancerMember.
type apMemberDef struct {
	url    string
	params []apArg
	at     Pos
}

// apTrans turns the read configuration into Caddyfile text.
type apTrans struct {
	r       *apReader
	opts    ParseOptions
	main    *apServer
	vhosts  []*apServer
	listens []apAddr

	jkWorkers   string
	jkWorkersAt Pos
	jkProps     []JKProperty
	jkCopyAll   bool
	remoteIP    bool // RemoteIPHeader X-Forwarded-For (or X-Real-IP...)

	records   []apSiteRecord
	ignoredAt map[string]int // directive → index of its warning in r.warns
	ignoredN  map[string]int

	bals     map[string]int // balancer names written, for unique names
	matcherN int
	out      strings.Builder
	origins  []Pos
}

func (t *apTrans) warn(at Pos, format string, args ...any) { t.r.warn(at, format, args...) }

// ignored warns about a directive of httpd's own (LoadModule, LogFormat,
// ...) once per name: the first line, and how many there are.
func (t *apTrans) ignored(d *apDirective, reason string) {
	key := strings.ToLower(d.name)
	if i, ok := t.ignoredAt[key]; ok {
		t.ignoredN[key]++
		w := &t.r.warns[i]
		w.Msg = fmt.Sprintf("%s: not imported (%d lines; this is the first): %s", d.name, t.ignoredN[key], reason)
		return
	}
	if t.ignoredAt == nil {
		t.ignoredAt, t.ignoredN = map[string]int{}, map[string]int{}
	}
	t.ignoredAt[key], t.ignoredN[key] = len(t.r.warns), 1
	t.r.warns = append(t.r.warns, Warning{Pos: d.pos, Msg: d.name + ": not imported: " + reason})
}

// apIgnored are directives that configure httpd itself (processes,
// modules, logs, MIME types, ...): the reason each is not imported.
var apIgnored = func() map[string]string {
	m := map[string]string{}
	for reason, names := range map[string]string{
		"it configures httpd's processes and limits, which Tether does not have (Tether's are in its global options)": "user group pidfile serverlimit startservers minspareservers maxspareservers minsparethreads maxsparethreads threadsperchild maxrequestworkers maxclients maxconnectionsperchild maxrequestsperchild threadlimit listenbacklog mutex defaultruntimedir scoreboardfile serveradmin serversignature servertokens hostnamelookups usecanonicalname usecanonicalphysicalport enablesendfile enablemmap coredumpdirectory gracefulshutdowntimeout acceptfilter traceenable extendedstatus fileetag",
		"it loads an httpd module; Tether has what it imports built in":                                               "loadmodule loadfile",
		"it configures httpd's logs; Tether's access log is the site's log directive":                                 "errorlog loglevel logformat customlog transferlog errorlogformat bufferedlogs jklogfile jkloglevel jklogstampformat jkrequestlogformat",
		"Tether's timeouts are its own (the limits block and the balancers' dial and response timeouts)":              "timeout keepalive keepalivetimeout maxkeepaliverequests requestreadtimeout proxytimeout",
		"it configures how httpd serves files by type or language; Tether's file_server picks types itself":           "typesconfig addtype addlanguage addcharset adddefaultcharset addencoding addhandler addicon addiconbyencoding addiconbytype adddescription defaulticon indexoptions indexignore readmename headername languagepriority forcelanguagepriority mimemagicfile directoryindex defaulttype options allowoverride allowoverridelist accessfilename addoutputfilter removehandler removetype setoutputfilter",
		"mod_jk's shared memory and watchdog are not needed: Tether keeps member state in process and replicates it":  "jkshmfile jkshmsize jkwatchdoginterval jkmountfilereload",
		"it sets httpd's ServerRoot, which the import already used to find files":                                     "serverroot",
	} {
		for n := range strings.FieldsSeq(names) {
			m[n] = reason
		}
	}
	return m
}()

// apAccess are access-control directives: not imported, which matters.
var apAccess = []string{"require", "order", "allow", "deny", "satisfy", "authtype", "authname", "authuserfile", "authgroupfile", "authbasicprovider", "authldapurl", "sslrequire", "sslrequiressl"}

// server reads the directives ds of server s (the main server, or a
// virtual host's body); loc is the <Location> path they are in, "" at the
// server level.
func (t *apTrans) server(s *apServer, ds []*apDirective, loc *apLocation) error {
	for _, d := range ds {
		if err := t.directive(s, d, loc); err != nil {
			return err
		}
	}
	return nil
}

// apLocation is a <Location> or <LocationMatch> section.
type apLocation struct {
	path  string
	match bool // LocationMatch: path is a regexp
	at    Pos
}

func (t *apTrans) directive(s *apServer, d *apDirective, loc *apLocation) error {
	name := strings.ToLower(d.name)
	args := d.argTexts()
	main := s == t.main && loc == nil
	switch {
	case d.section:
		return t.section(s, d, loc)
	case name == "serverroot":
		return nil // the reader followed it
	case apIgnored[name] != "":
		t.ignored(d, apIgnored[name])
		return nil
	case slices.Contains(apAccess, name):
		where := "this server"
		if loc != nil {
			where = "<Location " + loc.path + ">"
		}
		t.warn(d.pos, "%s: access control is not imported: what Tether serves in %s it serves to everyone (use basic_auth, or a remote_ip matcher with respond 403)", d.name, where)
		return nil
	}
	if loc != nil {
		return t.locationDirective(s, d, loc)
	}
	if ok, err := t.sslDirective(s, d); ok {
		return err
	}
	switch name {
	case "listen":
		if !main {
			return errorf(d.pos, "Listen is only allowed in the main server (httpd refuses it elsewhere)")
		}
		if len(args) < 1 {
			return errorf(d.pos, "Listen takes an address")
		}
		a, err := apParseAddr(d.args[0])
		if err != nil {
			return err
		}
		if a.port == 0 {
			return errorf(d.args[0].pos, "Listen %s: no port", args[0])
		}
		if len(args) > 1 && !slices.Contains([]string{"http", "https"}, strings.ToLower(args[1])) {
			t.warn(d.args[1].pos, "Listen %s %s: protocol not imported", args[0], args[1])
		}
		t.listens = append(t.listens, a)
	case "servername":
		if len(args) != 1 {
			return errorf(d.pos, "ServerName takes one argument")
		}
		n := args[0]
		if i := strings.Index(n, "://"); i >= 0 {
			n = n[i+3:]
		}
		if h, _, err := net.SplitHostPort(n); err == nil {
			n = h
		}
		s.name, s.namePos = strings.ToLower(strings.Trim(n, "[]")), d.args[0].pos
	case "serveralias":
		s.aliases = append(s.aliases, d.args...)
	case "documentroot":
		if len(args) != 1 {
			return errorf(d.pos, "DocumentRoot takes one argument")
		}
		s.docRoot, s.docAt = t.r.rootRelative(args[0]), d.pos
	case "sslengine":
		on := len(args) == 1 && (strings.EqualFold(args[0], "on") || strings.EqualFold(args[0], "optional"))
		if len(args) == 1 && strings.EqualFold(args[0], "optional") {
			t.warn(d.pos, "SSLEngine optional (TLS upgrade in HTTP/1.1) is not supported; the site is HTTPS")
		}
		s.ssl.engine, s.ssl.engineAt = &on, d.pos
	case "sslcertificatefile":
		if len(args) == 1 {
			if s.ssl.cert != "" {
				t.warn(d.pos, "SSLCertificateFile: a second certificate (httpd serves RSA and ECDSA ones side by side); Tether uses this one only")
			}
			s.ssl.cert, s.ssl.certAt = t.r.rootRelative(args[0]), d.pos
		}
	case "sslcertificatekeyfile":
		if len(args) == 1 {
			s.ssl.key = t.r.rootRelative(args[0])
		}
	case "sslcertificatechainfile":
		if len(args) == 1 {
			s.ssl.chain = t.r.rootRelative(args[0])
			t.warn(d.pos, "SSLCertificateChainFile: Tether reads the chain from the certificate file; append %s to the certificate file", s.ssl.chain)
		}
	case "jkworkersfile":
		if !main {
			return errorf(d.pos, "JkWorkersFile is only allowed in the main server (httpd refuses it elsewhere)")
		}
		if t.jkWorkers != "" {
			return errorf(d.pos, "JkWorkersFile only allowed once (httpd refuses the second, first at %s)", t.jkWorkersAt)
		}
		if len(args) != 1 {
			return errorf(d.pos, "JkWorkersFile takes one argument")
		}
		t.jkWorkers, t.jkWorkersAt = t.r.rootRelative(args[0]), d.pos
	case "jkworkerproperty":
		if !main {
			return errorf(d.pos, "JkWorkerProperty is only allowed in the main server")
		}
		if len(args) != 1 {
			return errorf(d.pos, "JkWorkerProperty takes one argument, KEY=VALUE")
		}
		t.jkProps = append(t.jkProps, JKProperty{Line: args[0], Pos: d.args[0].pos})
	case "jkmount", "jkunmount":
		if len(args) != 2 {
			return errorf(d.pos, "%s needs a path and a worker outside a <Location> (httpd refuses it)", d.name)
		}
		if !strings.HasPrefix(args[0], "/") {
			return errorf(d.args[0].pos, "%s context should start with / (httpd refuses it)", d.name)
		}
		s.jkMounts = append(s.jkMounts, JKMount{Pattern: args[0], Worker: args[1], Exclude: name == "jkunmount", Pos: d.args[0].pos})
		if s.jkAt.Line == 0 {
			s.jkAt = d.pos
		}
	case "jkmountfile":
		if len(args) != 1 {
			return errorf(d.pos, "JkMountFile takes one argument")
		}
		s.jkMountFile, s.jkFileAt = t.r.rootRelative(args[0]), d.pos
		if s.jkAt.Line == 0 {
			s.jkAt = d.pos
		}
	case "jkmountcopy":
		if len(args) != 1 {
			return errorf(d.pos, "JkMountCopy must be All, On or Off")
		}
		switch strings.ToLower(args[0]) {
		case "all":
			if !main {
				return errorf(d.pos, "JkMountCopy All is only allowed in the main server (httpd refuses it elsewhere)")
			}
			t.jkCopyAll = true
		case "on":
			s.jkCopy = 1
		case "off":
			s.jkCopy = 0
		default:
			return errorf(d.args[0].pos, "JkMountCopy must be All, On or Off")
		}
	case "jkoptions":
		t.jkOptions(d)
	case "jkstripsession":
		if len(args) > 0 && !strings.EqualFold(args[0], "off") {
			t.warn(d.pos, "JkStripSession: not supported; Tether does not remove ;jsessionid from the URLs it does not proxy (file_server ignores it)")
		}
	case "jkenvvar":
		if len(args) >= 1 && strings.HasPrefix(strings.ToUpper(args[0]), "SSL_CLIENT_") {
			t.warn(d.pos, "JkEnvVar %s: not sent as an attribute of that name; the client certificate reaches Tomcat as mod_jk sends it by default (ssl_cert: jakarta.servlet.request.X509Certificate, with the cipher, key size and session), and HTTP members get Apache's SSL_CLIENT_* headers with reverse_proxy's client_cert_headers", strings.Join(args, " "))
			break
		}
		t.warn(d.pos, "JkEnvVar %s: not supported; Tether sends no request attributes from environment variables (Tomcat refuses unknown ones anyway)", strings.Join(args, " "))
	case "jkautoalias", "jkworkerindicator", "jkhttpsindicator", "jkcertsindicator", "jkcipherindicator", "jkcertchainprefix",
		"jksessionindicator", "jkkeysizeindicator", "jksslprotocolindicator", "jklocalnameindicator", "jkignorecl",
		"jklocalportindicator", "jkremotehostindicator", "jkremoteaddrindicator", "jkremoteportindicator", "jkremoteuserindicator", "jkauthtypeindicator":
		t.warn(d.pos, "%s: not supported; Tether forwards the client's address, TLS and X-Forwarded-* facts as mod_jk does by default", d.name)
	case "proxypass", "proxypassmatch":
		return t.proxyPass(s, d, nil)
	case "proxypassreverse", "proxypassreversecookiepath", "proxypassreversecookiedomain":
		t.proxyReverse(d, args)
	case "proxypreservehost":
		on := len(args) == 1 && strings.EqualFold(args[0], "on")
		s.preserveHost = &on
	case "proxyrequests":
		if len(args) == 1 && strings.EqualFold(args[0], "on") {
			t.warn(d.pos, "ProxyRequests On (a forward proxy) is not supported")
		}
	case "proxyset":
		return t.proxySet(s, d, "")
	case "balancermember":
		if len(args) < 2 || !strings.HasPrefix(strings.ToLower(args[0]), "balancer://") {
			return errorf(d.pos, "BalancerMember outside <Proxy balancer://...> needs the balancer as its first argument")
		}
		b := t.balancer(s, args[0], d.pos)
		b.members = append(b.members, apMemberDef{url: args[1], params: d.args[2:], at: d.pos})
	case "header", "requestheader":
		t.header(s, d, nil)
	case "redirect", "redirectpermanent", "redirecttemp", "redirectmatch":
		t.redirect(s, d, nil)
	case "rewriteengine":
		s.rewriteOn = len(args) == 1 && strings.EqualFold(args[0], "on")
	case "rewriterule":
		t.rewriteRule(s, d)
	case "rewritecond":
		t.warn(d.pos, "RewriteCond: conditions are not imported, so the RewriteRule they guard is not either")
		s.pendingCond = true
	case "rewriteoptions", "rewritemap", "rewritebase":
		t.warn(d.pos, "%s: not imported", d.name)
	case "addoutputfilterbytype":
		if len(args) >= 2 && slices.ContainsFunc(strings.Split(args[0], ";"), func(f string) bool { return strings.EqualFold(f, "DEFLATE") }) {
			s.deflate = append(s.deflate, args[1:]...)
			if s.deflateAt.Line == 0 {
				s.deflateAt = d.pos
			}
		} else {
			t.warn(d.pos, "AddOutputFilterByType %s: only DEFLATE is imported", strings.Join(args, " "))
		}
	case "limitrequestbody":
		if len(args) != 1 {
			return errorf(d.pos, "LimitRequestBody takes one argument")
		}
		n, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || n < 0 {
			return errorf(d.args[0].pos, "LimitRequestBody: %q is not a number of bytes", args[0])
		}
		s.limit, s.limitAt, s.limitSet = n, d.pos, true
	case "remoteipheader":
		if len(args) == 1 && (strings.EqualFold(args[0], "X-Forwarded-For") || strings.EqualFold(args[0], "X-Real-IP")) {
			t.remoteIP = true
			if strings.EqualFold(args[0], "X-Real-IP") {
				t.warn(d.pos, "RemoteIPHeader X-Real-IP: Tether believes X-Forwarded-For from trusted proxies, not X-Real-IP")
			}
		} else {
			t.warn(d.pos, "RemoteIPHeader %s: not supported (Tether reads X-Forwarded-For)", strings.Join(args, " "))
		}
	case "remoteipinternalproxy", "remoteiptrustedproxy":
		for _, a := range d.args {
			if _, err := netip.ParsePrefix(a.text); err == nil {
				s.trusted = append(s.trusted, a.text)
			} else if _, err := netip.ParseAddr(a.text); err == nil {
				s.trusted = append(s.trusted, a.text)
			} else {
				t.warn(a.pos, "%s %s: only IP addresses and CIDR ranges are imported", d.name, a.text)
			}
		}
		if s.trustedAt.Line == 0 {
			s.trustedAt = d.pos
		}
	case "remoteipinternalproxylist", "remoteiptrustedproxylist", "remoteipproxiesheader":
		t.warn(d.pos, "%s: not imported", d.name)
	case "setenvif", "setenvifnocase":
		if len(args) >= 3 && strings.EqualFold(args[0], "X-Forwarded-Proto") && strings.EqualFold(args[len(args)-1], "HTTPS=on") {
			break // Tether takes https from a trusted proxy's X-Forwarded-Proto, as this line makes mod_jk do
		}
		t.warn(d.pos, "%s: environment variables are not imported", d.name)
	case "alias", "aliasmatch", "scriptalias", "scriptaliasmatch":
		t.warn(d.pos, "%s %s: not imported; Tether's file_server serves the DocumentRoot only", d.name, strings.Join(args, " "))
	case "sethandler":
		t.warn(d.pos, "SetHandler %s: not imported", strings.Join(args, " "))
	default:
		if strings.HasPrefix(name, "ssl") {
			t.warn(d.pos, "%s: not imported; Tether's TLS settings are its own (certificates, TLS 1.2 and 1.3)", d.name)
			return nil
		}
		if strings.HasPrefix(name, "proxy") || strings.HasPrefix(name, "balancer") {
			t.warn(d.pos, "%s: not imported", d.name)
			return nil
		}
		t.warn(d.pos, "%s: not imported (Tether has no equivalent it imports)", d.name)
	}
	return nil
}

func (t *apTrans) section(s *apServer, d *apDirective, loc *apLocation) error {
	name := strings.ToLower(d.name)
	switch name {
	case "virtualhost":
		if s != t.main || loc != nil {
			return errorf(d.pos, "<VirtualHost> cannot occur within <VirtualHost> or <Location> (httpd refuses it)")
		}
		v := &apServer{vhost: d, pos: d.pos, jkCopy: -1}
		if len(d.args) == 0 {
			return errorf(d.pos, "<VirtualHost> must have an address")
		}
		for _, a := range d.args {
			addr, err := apParseAddr(a)
			if err != nil {
				return err
			}
			v.addrs = append(v.addrs, addr)
		}
		t.vhosts = append(t.vhosts, v)
		return t.server(v, d.body, nil)
	case "location", "locationmatch":
		if loc != nil {
			return errorf(d.pos, "<%s> cannot occur within <Location> (httpd refuses it)", d.name)
		}
		if len(d.args) < 1 {
			return errorf(d.pos, "<%s> needs a path", d.name)
		}
		l := &apLocation{path: d.args[0].text, at: d.pos, match: name == "locationmatch"}
		if len(d.args) == 2 && d.args[0].text == "~" {
			l.path, l.match = d.args[1].text, true
		}
		if l.match {
			if _, err := regexp.Compile(l.path); err != nil {
				t.warn(d.pos, "<%s %s>: its regular expression is not one Go reads (%v); the section is not imported", d.name, l.path, err)
				return nil
			}
		}
		for _, c := range d.body {
			if err := t.directive(s, c, l); err != nil {
				return err
			}
		}
		return nil
	case "proxy", "proxymatch":
		if len(d.args) >= 1 && strings.HasPrefix(strings.ToLower(d.args[0].text), "balancer://") && name == "proxy" {
			b := t.balancer(s, d.args[0].text, d.pos)
			for _, c := range d.body {
				switch {
				case c.is("BalancerMember"):
					if len(c.args) < 1 {
						return errorf(c.pos, "BalancerMember needs a URL")
					}
					b.members = append(b.members, apMemberDef{url: c.args[0].text, params: c.args[1:], at: c.pos})
				case c.is("ProxySet"):
					if err := t.proxySet(s, c, d.args[0].text); err != nil {
						return err
					}
				case slices.Contains(apAccess, strings.ToLower(c.name)):
					t.warn(c.pos, "%s: access control is not imported", c.name)
				default:
					t.warn(c.pos, "%s in <Proxy %s>: not imported", c.name, d.args[0].text)
				}
			}
			return nil
		}
		t.warn(d.pos, "<%s %s>: not imported (access control for proxied URLs; Tether proxies only what its sites mount)", d.name, strings.Join(d.argTexts(), " "))
		return nil
	case "directory", "directorymatch", "files", "filesmatch":
		t.warn(d.pos, "<%s %s>: file system sections are not imported; Tether's file_server serves the DocumentRoot as it is", d.name, strings.Join(d.argTexts(), " "))
		return nil
	case "if", "elseif", "else":
		t.warn(d.pos, "<%s %s>: conditions on the request are not imported; the section is skipped", d.name, strings.Join(d.argTexts(), " "))
		return nil
	case "macro":
		t.warn(d.pos, "<Macro>: mod_macro is not supported; its Use lines are not imported")
		return nil
	}
	t.warn(d.pos, "<%s>: not imported", d.name)
	return nil
}

// locationDirective reads a directive of a <Location> section.
func (t *apTrans) locationDirective(s *apServer, d *apDirective, loc *apLocation) error {
	name := strings.ToLower(d.name)
	args := d.argTexts()
	switch name {
	case "jkmount", "jkunmount":
		if len(args) != 1 {
			return errorf(d.pos, "%s can not have a path when defined in a location (httpd refuses it)", d.name)
		}
		if loc.match || !strings.HasPrefix(loc.path, "/") {
			t.warn(d.pos, "%s in <LocationMatch %s>: mod_jk mounts the regular expression as a literal path; not imported", d.name, loc.path)
			return nil
		}
		s.jkMounts = append(s.jkMounts, JKMount{Pattern: loc.path, Worker: args[0], Exclude: name == "jkunmount", Pos: d.pos})
		if s.jkAt.Line == 0 {
			s.jkAt = d.pos
		}
	case "proxypass", "proxypassmatch":
		return t.proxyPass(s, d, loc)
	case "proxypassreverse", "proxypassreversecookiepath", "proxypassreversecookiedomain":
		t.proxyReverse(d, args)
	case "header", "requestheader":
		t.header(s, d, loc)
	case "redirect", "redirectpermanent", "redirecttemp", "redirectmatch":
		t.redirect(s, d, loc)
	case "sethandler":
		switch strings.ToLower(strings.Join(args, " ")) {
		case "jakarta-servlet":
			t.warn(d.pos, "SetHandler jakarta-servlet in <Location %s>: the worker comes from the JK_WORKER_NAME environment variable, which is not imported; use JkMount", loc.path)
		case "balancer-manager", "server-status", "server-info":
			t.warn(d.pos, "SetHandler %s in <Location %s>: not imported; Tether's admin API and status page (GET /, /api/status on the admin listener) show and change members", args[0], loc.path)
		default:
			t.warn(d.pos, "SetHandler %s in <Location %s>: not imported", strings.Join(args, " "), loc.path)
		}
	case "sslverifyclient", "sslverifydepth", "sslciphersuite", "sslrequire", "sslrequiressl", "ssloptions":
		t.warn(d.pos, "%s in <Location %s>: not imported; Tether settles TLS (and asks for client certificates) once per connection for the whole site, where httpd renegotiates for this path: the path is served under the site's own settings", d.name, loc.path)
	case "limitrequestbody":
		t.warn(d.pos, "LimitRequestBody in <Location %s>: Tether's request_body limit is per site; not imported", loc.path)
	default:
		t.warn(d.pos, "%s in <Location %s>: not imported", d.name, loc.path)
	}
	return nil
}

// jkOptions warns about JkOptions that change what is forwarded.
func (t *apTrans) jkOptions(d *apDirective) {
	for _, a := range d.args {
		o := strings.TrimLeft(a.text, "+-")
		off := strings.HasPrefix(a.text, "-")
		switch strings.ToLower(o) {
		case "forwarduriproxy":
			if off {
				t.warn(a.pos, "JkOptions %s: Tether forwards the URI as mod_jk's default ForwardURIProxy does", a.text)
			}
		case "forwardsslcertchain":
			if off {
				t.warn(a.pos, "JkOptions %s: Tether sends the certificate chain the client presented (leaf first, as +ForwardSSLCertChain does), not the leaf alone; Tomcat's X509Certificate[0] is the same leaf", a.text)
			}
			// +ForwardSSLCertChain: what Tether sends to Tomcat already.
		case "forwardlocaladdress", "forwardphysicaladdress", "forwardkeysize", "forwarddirectories",
			"forwarduricompat", "forwarduricompatunparsed", "forwarduriescaped", "flushpackets", "flushheader", "disablereuse", "rejectunsafeuri":
			if !off {
				t.warn(a.pos, "JkOptions %s: not supported; Tether forwards as mod_jk does by default", a.text)
			}
		default:
			t.warn(a.pos, "JkOptions %s: not supported", a.text)
		}
	}
}

func (t *apTrans) proxyReverse(d *apDirective, args []string) {
	if d.is("ProxyPassReverse") && len(args) >= 2 {
		u := args[1]
		if i := strings.Index(u, "://"); i >= 0 {
			u = u[i+3:]
			if j := strings.IndexByte(u, '/'); j >= 0 {
				u = u[j:]
			} else {
				u = "/"
			}
		}
		if strings.TrimSuffix(u, "/") == strings.TrimSuffix(args[0], "/") {
			return // same path: Tether keeps the Host, so the member's redirects are already right
		}
	} else if d.is("ProxyPassReverse") && len(args) == 1 {
		return // in a <Location>: the path is the location's
	}
	t.warn(d.pos, "%s %s: not imported; Tether does not rewrite the member's Location or cookies (it passes the client's Host to the member)", d.name, strings.Join(args, " "))
}

// apParseAddr parses a VirtualHost or Listen address: [host:]port, *,
// *:port, _default_[:port], [v6]:port.
func apParseAddr(a apArg) (apAddr, error) {
	s := a.text
	out := apAddr{at: a.pos}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return out, errorf(a.pos, "bad address %q", s)
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return out, errorf(a.pos, "bad address %q", s)
			}
			port = p
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	} else if _, err := strconv.Atoi(s); err == nil {
		host, port = "", s
	}
	if host == "*" || strings.EqualFold(host, "_default_") {
		host = ""
	}
	if port != "" && port != "*" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return out, errorf(a.pos, "bad port in address %q", s)
		}
		out.port = n
	}
	out.host = strings.ToLower(host)
	return out, nil
}

// balancer returns server s's balancer NAME ("balancer://NAME"), made on
// first mention.
func (t *apTrans) balancer(s *apServer, url string, at Pos) *apBalancer {
	name := strings.TrimSuffix(url[len("balancer://"):], "/")
	if s.balancers == nil {
		s.balancers = map[string]*apBalancer{}
	}
	key := strings.ToLower(name)
	b := s.balancers[key]
	if b == nil {
		b = &apBalancer{name: name, at: at}
		s.balancers[key] = b
	}
	return b
}

// proxySet reads ProxySet [balancer://NAME] key=value...; in a <Proxy>
// section bal names the balancer.
func (t *apTrans) proxySet(s *apServer, d *apDirective, bal string) error {
	args := d.args
	if bal == "" {
		if len(args) == 0 || !strings.HasPrefix(strings.ToLower(args[0].text), "balancer://") {
			t.warn(d.pos, "ProxySet outside a balancer: not imported")
			return nil
		}
		bal, args = args[0].text, args[1:]
	}
	b := t.balancer(s, bal, d.pos)
	b.params = append(b.params, args...)
	return nil
}

// proxyPass reads ProxyPass PATH URL|! [key=value...] (ProxyPassMatch
// REGEXP URL), or in a <Location> ProxyPass URL|!.
func (t *apTrans) proxyPass(s *apServer, d *apDirective, loc *apLocation) error {
	args := d.args
	p := &apProxyPass{at: d.pos, regexp: d.is("ProxyPassMatch")}
	switch {
	case loc != nil:
		if len(args) < 1 {
			return errorf(d.pos, "%s in a <Location> takes a URL", d.name)
		}
		p.path, p.regexp = loc.path, loc.match
		p.url, p.params = args[0].text, args[1:]
	default:
		if len(args) < 2 {
			return errorf(d.pos, "%s takes a path and a URL", d.name)
		}
		p.path, p.url, p.params = args[0].text, args[1].text, args[2:]
	}
	if p.regexp {
		if _, err := regexp.Compile(p.path); err != nil {
			t.warn(d.pos, "%s %s: its regular expression is not one Go reads (%v); not imported", d.name, p.path, err)
			return nil
		}
	}
	s.proxies = append(s.proxies, p)
	return nil
}

// header reads a Header or RequestHeader directive into Caddyfile lines.
func (t *apTrans) header(s *apServer, d *apDirective, loc *apLocation) {
	args := d.argTexts()
	req := d.is("RequestHeader")
	i := 0
	if !req && len(args) > 0 && (strings.EqualFold(args[0], "always") || strings.EqualFold(args[0], "onsuccess")) {
		i++
	}
	if len(args) < i+2 {
		t.warn(d.pos, "%s %s: not imported (want an action and a header name)", d.name, strings.Join(args, " "))
		return
	}
	action, field := strings.ToLower(args[i]), args[i+1]
	rest := args[i+2:]
	value := ""
	if len(rest) > 0 && !strings.Contains(rest[0], "=") || len(rest) > 0 && action != "unset" && action != "echo" {
		value, rest = rest[0], rest[1:]
	}
	for _, r := range rest {
		if strings.EqualFold(r, "early") {
			t.warn(d.pos, "%s ... early: applied as an ordinary %s", d.name, d.name)
			continue
		}
		t.warn(d.pos, "%s ... %s: conditional headers are not imported; the directive is not either", d.name, r)
		return
	}
	if strings.Contains(value, "%") && apFormatRe.MatchString(value) {
		t.warn(d.pos, "%s %s %s: the value has mod_headers format specifiers (%%{...}e, %%t, %%D), which Tether does not fill in; not imported", d.name, field, value)
		return
	}
	esc := strings.NewReplacer("{", `\{`, "}", `\}`).Replace(strings.ReplaceAll(value, "%%", "%"))
	directive, prefix := "header", ">"
	if req {
		directive, prefix = "request_header", ""
	}
	var line string
	switch action {
	case "set":
		line = prefix + field + " " + quoteToken(esc)
	case "add":
		line = "+" + field + " " + quoteToken(esc)
	case "append", "merge":
		line = "+" + field + " " + quoteToken(esc)
		t.warn(d.pos, "%s %s: Tether adds a field line, where httpd joins the value to the existing one with a comma (the same list to HTTP)", d.name, action)
	case "setifempty":
		line = "?" + field + " " + quoteToken(esc)
		if req {
			t.warn(d.pos, "RequestHeader setifempty: not imported (request_header has no default operation)")
			return
		}
	case "unset":
		line = "-" + field
	default:
		t.warn(d.pos, "%s %s: not imported", d.name, strings.Join(args[i:], " "))
		return
	}
	var def []string
	m := ""
	if loc != nil {
		var name string
		name, def = t.locMatcher(loc)
		m = " @" + name
	}
	s.headers = append(s.headers, apBlock{lines: append(def, directive+m+" "+line), at: d.pos})
}

var apFormatRe = regexp.MustCompile(`%[tDlisbe{]`)

// locMatcher is the matcher of a <Location>: its path and what is under
// it (httpd matches whole path segments), or its regexp.
func (t *apTrans) locMatcher(loc *apLocation) (string, []string) {
	if loc.match {
		return t.matcher("path_regexp " + quoteToken(loc.path))
	}
	return t.matcher("path " + strings.Join(apPrefixPatterns(loc.path), " "))
}

// matcher returns a new named matcher's name and the lines that define
// it; names are unique over the whole import, so blocks inherited from
// the main server never clash with a virtual host's.
func (t *apTrans) matcher(conds ...string) (name string, def []string) {
	t.matcherN++
	name = "apache" + strconv.Itoa(t.matcherN)
	if len(conds) == 1 {
		return name, []string{"@" + name + " " + conds[0]}
	}
	return name, append(append([]string{"@" + name + " {"}, conds...), "}")
}

// apPrefixPatterns are the Tether path patterns of an httpd prefix (a
// Location or a ProxyPass path): httpd matches it by whole segments, so
// "/app" is "/app" and "/app/*" (not "/apple"), "/app/" is "/app/*".
func apPrefixPatterns(p string) []string {
	switch {
	case p == "/" || p == "":
		return []string{"/*"}
	case strings.HasSuffix(p, "/"):
		return []string{p + "*"}
	}
	return []string{p, p + "/*"}
}

// redirect reads Redirect, RedirectPermanent, RedirectTemp and
// RedirectMatch.
func (t *apTrans) redirect(s *apServer, d *apDirective, loc *apLocation) {
	args := d.argTexts()
	status := "302"
	switch {
	case d.is("RedirectPermanent"):
		status = "301"
	case d.is("RedirectTemp"):
		status = "302"
	case len(args) > 0:
		switch strings.ToLower(args[0]) {
		case "permanent":
			status, args = "301", args[1:]
		case "temp":
			status, args = "302", args[1:]
		case "seeother":
			status, args = "303", args[1:]
		case "gone":
			status, args = "410", args[1:]
		default:
			if n, err := strconv.Atoi(args[0]); err == nil && n >= 300 && n <= 599 {
				status, args = args[0], args[1:]
			}
		}
	}
	match := d.is("RedirectMatch")
	var from, to string
	switch {
	case loc != nil && len(args) == 1:
		from, to = loc.path, args[0]
	case len(args) == 2:
		from, to = args[0], args[1]
	case len(args) == 1 && status == "410":
		from = args[0]
	default:
		t.warn(d.pos, "%s %s: not imported", d.name, strings.Join(d.argTexts(), " "))
		return
	}
	esc := strings.NewReplacer("{", `\{`, "}", `\}`)
	var lines []string
	cond := "path " + strings.Join(apPrefixPatterns(from), " ")
	if match {
		if _, err := regexp.Compile(from); err != nil {
			t.warn(d.pos, "RedirectMatch %s: its regular expression is not one Go reads (%v); not imported", from, err)
			return
		}
		cond = "path_regexp " + quoteToken(from)
	}
	name, def := t.matcher(cond)
	switch {
	case status == "410":
		lines = []string{"respond @" + name + " 410"}
	case match:
		// The target, with $N filled in, replaces the path; redir sends it
		// with the query string unless the target has one (mod_alias).
		lines = []string{
			"route @" + name + " {",
			"uri path_regexp " + quoteToken("^(?:.*?)(?:"+from+")(?:.*)$") + " " + quoteToken(apGoRepl(esc.Replace(to))),
			"redir " + apRedirTarget(to) + " " + status,
			"}",
		}
	default:
		// Redirect /old URL: /old and what is under it (on a segment
		// boundary, the matcher's) go to URL plus the rest of the path,
		// with the query string unless URL has one (mod_alias's
		// alias_matches and translate_alias_redir).
		lines = []string{
			"route @" + name + " {",
			"uri path_regexp " + quoteToken("^"+regexp.QuoteMeta(from)) + " " + quoteToken(strings.ReplaceAll(esc.Replace(to), "$", "$$")),
			"redir " + apRedirTarget(to) + " " + status,
			"}",
		}
	}
	s.redirects = append(s.redirects, apBlock{lines: append(def, lines...), at: d.pos})
}

// apRedirTarget is what redir sends once the path holds the target: the
// path and the request's query string, or the path alone when the target
// has a query string of its own (httpd appends the request's otherwise).
func apRedirTarget(to string) string {
	if strings.Contains(to, "?") {
		return "{path}"
	}
	return "{uri}"
}

// apGoRepl turns an httpd substitution ($1, $2) into a Go regexp
// replacement (${1}), with other '$' literal.
func apGoRepl(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' {
			if i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
				b.WriteString("${" + string(s[i+1]) + "}")
				i++
				continue
			}
			b.WriteString("$$")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// rewriteRule reads a RewriteRule without conditions: a redirect ([R]),
// a refusal ([F], [G]) or an internal rewrite of the path.
func (t *apTrans) rewriteRule(s *apServer, d *apDirective) {
	args := d.argTexts()
	if s.pendingCond {
		s.pendingCond = false
		t.warn(d.pos, "RewriteRule %s: it has RewriteCond conditions, which are not imported; not imported", strings.Join(args, " "))
		return
	}
	if len(args) < 2 || len(args) > 3 {
		t.warn(d.pos, "RewriteRule %s: not imported", strings.Join(args, " "))
		return
	}
	pattern, subst := args[0], args[1]
	flags := map[string]string{}
	if len(args) == 3 {
		f := strings.TrimSuffix(strings.TrimPrefix(args[2], "["), "]")
		for fl := range strings.SplitSeq(f, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(fl), "=")
			flags[strings.ToUpper(k)] = v
		}
	}
	neg := strings.HasPrefix(pattern, "!")
	if neg {
		t.warn(d.pos, "RewriteRule %s: negated patterns are not imported", pattern)
		return
	}
	re := pattern
	if _, ok := flags["NC"]; ok {
		re = "(?i)" + re
	} else if _, ok := flags["NOCASE"]; ok {
		re = "(?i)" + re
	}
	if _, err := regexp.Compile(re); err != nil {
		t.warn(d.pos, "RewriteRule %s: its regular expression is not one Go reads (%v); not imported", pattern, err)
		return
	}
	for k := range flags {
		switch k {
		case "R", "REDIRECT", "L", "LAST", "NC", "NOCASE", "F", "FORBIDDEN", "G", "GONE", "PT", "PASSTHROUGH", "NE", "NOESCAPE", "QSA", "QSAPPEND", "END":
		default:
			t.warn(d.pos, "RewriteRule ... [%s]: the flag is not imported; neither is the rule", k)
			return
		}
	}
	if !s.rewriteOn {
		t.warn(d.pos, "RewriteRule: RewriteEngine is not on (above it) in this server; httpd ignores the rule, so does Tether")
		return
	}
	if s.vhost == nil && len(t.vhosts) > 0 {
		t.warn(d.pos, "RewriteRule in the main server: httpd does not apply it in virtual hosts (without RewriteOptions Inherit)")
	}
	esc := strings.NewReplacer("{", `\{`, "}", `\}`)
	name, def := t.matcher("path_regexp " + quoteToken(re))
	whole := quoteToken("^(?:.*?)(?:" + re + ")(?:.*)$") // httpd replaces the whole path
	var lines []string
	switch {
	case hasKey(flags, "F") || hasKey(flags, "FORBIDDEN"):
		lines = []string{"respond @" + name + " 403"}
	case hasKey(flags, "G") || hasKey(flags, "GONE"):
		lines = []string{"respond @" + name + " 410"}
	case hasKey(flags, "R") || hasKey(flags, "REDIRECT"):
		status := cmp.Or(flags["R"], flags["REDIRECT"], "302")
		if strings.EqualFold(status, "permanent") {
			status = "301"
		}
		if n, err := strconv.Atoi(status); err != nil || n < 300 || n > 399 {
			t.warn(d.pos, "RewriteRule ... [R=%s]: not a redirect status; not imported", status)
			return
		}
		if subst == "-" {
			t.warn(d.pos, "RewriteRule %s - [R]: a redirect without a target is not imported", pattern)
			return
		}
		target := subst
		if !strings.Contains(target, "://") && !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		// The path becomes the target; the query string stays unless the
		// target sets one ([QSA] appends it then).
		redir := "{uri}"
		if strings.Contains(target, "?") {
			redir = "{path}"
			if hasKey(flags, "QSA") || hasKey(flags, "QSAPPEND") {
				redir = "{path}&{query}"
			}
		}
		lines = []string{
			"route @" + name + " {",
			"uri path_regexp " + whole + " " + quoteToken(apGoRepl(esc.Replace(target))),
			"redir " + quoteToken(redir) + " " + status,
			"}",
		}
	default:
		if subst == "-" {
			return // no substitution: nothing to do
		}
		if strings.Contains(subst, "://") {
			t.warn(d.pos, "RewriteRule %s %s: a rewrite to another host (an implicit redirect or proxy) is not imported", pattern, subst)
			return
		}
		if strings.Contains(subst, "?") {
			t.warn(d.pos, "RewriteRule %s %s: a rewrite that sets the query string is not imported", pattern, subst)
			return
		}
		if !strings.HasPrefix(subst, "/") {
			subst = "/" + subst
		}
		if hasKey(flags, "L") || hasKey(flags, "LAST") || hasKey(flags, "END") || hasKey(flags, "PT") || hasKey(flags, "PASSTHROUGH") {
			// httpd applies no rule after this one to the requests it
			// rewrites: written as a handle of its own beside a handle of
			// the rules after it (apachewrite.go's rules).
			s.rewrites = append(s.rewrites, apBlock{lines: def, at: d.pos, last: name,
				inner: []string{"uri path_regexp " + whole + " " + quoteToken(apGoRepl(esc.Replace(subst)))}})
			return
		}
		// Later rules see the rewritten path, as in httpd.
		lines = []string{"uri @" + name + " path_regexp " + whole + " " + quoteToken(apGoRepl(esc.Replace(subst)))}
	}
	lines = append(def, lines...)
	s.rewrites = append(s.rewrites, apBlock{lines: lines, at: d.pos})
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
