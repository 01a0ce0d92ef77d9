package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultBalancer returns a balancer with every default of a reverse_proxy
// block and no name, paths or members.
func DefaultBalancer() *Balancer {
	return &Balancer{
		Sticky: Sticky{
			Mode:      "jvmroute",   // Tomcat's jvmRoute suffix, as mod_jk
			Cookie:    "JSESSIONID", // the servlet spec's session cookie
			PathParam: "jsessionid", // ;jsessionid= URL rewriting
		},
		LBPolicy:              "round_robin",
		MaxFails:              1,                // mod_jk puts a member in error at its first failed connect
		RecoverTime:           30 * time.Second, // half of mod_jk's recover_time (60s): members come back sooner
		HealthInterval:        5 * time.Second,
		HealthTimeout:         2 * time.Second,
		HealthFails:           2, // one lost probe is not an outage
		HealthPasses:          1,
		Retries:               1,
		DialTimeout:           3 * time.Second,  // a LAN connect takes ms; 3s covers SYN retransmission once
		ResponseHeaderTimeout: 60 * time.Second, // finite, unlike mod_jk's reply_timeout=0 (see modjk.md §0.8)
		IdleTimeout:           90 * time.Second, // net/http's DefaultTransport
		MaxIdleConns:          256,
		AJPPacketSize:         8192, // AJP13's standard packet size (Tomcat packetSize default)
	}
}

// Enumerations of the config, for validation and messages.
var (
	lbPolicies   = []string{"round_robin", "least_requests", "least_busy", "p2c", "random", "ip_hash"}
	memberStates = []string{"active", "disabled", "stopped"}
	logLevels    = []string{"debug", "info", "warn", "error"}
	profiles     = []string{"lan", "wan", "local"}
)

// globalOptions and siteDirectives name the directives of each level, to
// point a directive written at the wrong level to the right one.
var (
	globalOptions  = []string{"admin", "admin_token", "http_port", "https_port", "email", "acme_ca", "acme_ca_root", "storage", "cluster", "drain_delay", "shutdown_timeout", "log"}
	siteDirectives = []string{"trusted_proxies", "tls", "reverse_proxy", "file_server", "root", "access_log", "import_jk"}
)

// builder turns a parsed tree into a validated Config.
type builder struct {
	cfg       *Config
	balancers map[string]Pos // balancer names in use
	addresses map[string]Pos // normalized site addresses in use
}

func build(tr *tree) (*Config, error) {
	b := &builder{cfg: &Config{}, balancers: map[string]Pos{}, addresses: map[string]Pos{}}
	g := &b.cfg.Global
	g.Admin = "127.0.0.1:9180"
	g.HTTPPort, g.HTTPSPort = 80, 443
	g.Storage.Kind = "file"
	g.ShutdownTimeout = 30 * time.Second
	g.Log.Level = "info"
	if tr.global != nil {
		if err := b.global(tr.global); err != nil {
			return nil, err
		}
	}
	for _, sn := range tr.sites {
		s, err := b.site(sn)
		if err != nil {
			return nil, err
		}
		b.cfg.Sites = append(b.cfg.Sites, *s)
	}
	return b.cfg, nil
}

// Argument helpers. Messages start with the directive's name.

func (n *node) nargs() int { return len(n.args) - 1 }

func (n *node) arg(i int) token { return n.args[i+1] }

// argc checks the number of arguments: at least min, at most max (max < 0:
// no limit). Too few is reported at the directive, too many at the first
// extra argument.
func (n *node) argc(min, max int) error {
	if n.nargs() < min {
		want := strconv.Itoa(min)
		if max != min {
			want = "at least " + want
		}
		return errorf(n.args[0].pos, "%s: want %s argument(s), got %d", n.name(), want, n.nargs())
	}
	if max >= 0 && n.nargs() > max {
		return errorf(n.arg(max).pos, "%s: unexpected argument %q", n.name(), n.arg(max).text)
	}
	return nil
}

func (n *node) noBlock() error {
	if n.hasBlock {
		return errorf(n.open, "%s takes no block", n.name())
	}
	return nil
}

// simple checks a directive of exactly k arguments and no block.
func (n *node) simple(k int) error {
	if err := n.argc(k, k); err != nil {
		return err
	}
	return n.noBlock()
}

// once reports a directive that may appear only once in its block.
func once(seen map[string]Pos, n *node) error {
	if prev, dup := seen[n.name()]; dup {
		return errorf(n.args[0].pos, "%s is set twice (first at %s)", n.name(), prev)
	}
	seen[n.name()] = n.args[0].pos
	return nil
}

func intArg(n *node, t token, min, max int) (int, error) {
	v, err := strconv.Atoi(t.text)
	if err != nil {
		return 0, errorf(t.pos, "%s: %q is not a whole number", n.name(), t.text)
	}
	if v < min || v > max {
		return 0, errorf(t.pos, "%s: %d is out of range %d..%d", n.name(), v, min, max)
	}
	return v, nil
}

// durArg parses a duration; positive durations only unless zeroOK.
func durArg(n *node, t token, zeroOK bool) (time.Duration, error) {
	d, err := ParseDuration(t.text)
	if err != nil {
		return 0, errorf(t.pos, "%s: %v", n.name(), err)
	}
	if d == 0 && !zeroOK {
		return 0, errorf(t.pos, "%s: must be more than 0", n.name())
	}
	return d, nil
}

func oneOf(n *node, t token, what string, allowed []string) (string, error) {
	if !slices.Contains(allowed, t.text) {
		return "", errorf(t.pos, "%s: unknown %s %q (want %s)", n.name(), what, t.text, orList(allowed))
	}
	return t.text, nil
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func onOff(n *node, t token) (bool, error) {
	switch t.text {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errorf(t.pos, "%s: want on or off, got %q", n.name(), t.text)
}

func nonEmpty(n *node, t token) (string, error) {
	if t.text == "" {
		return "", errorf(t.pos, "%s: empty value", n.name())
	}
	return t.text, nil
}

func unknown(n *node, where string, known []string, other []string, otherWhere string) error {
	if slices.Contains(other, n.name()) {
		return errorf(n.args[0].pos, "%s belongs in %s, not %s", n.name(), otherWhere, where)
	}
	return errorf(n.args[0].pos, "unknown %s %q (want %s)", where, n.name(), orList(known))
}

// global fills Config.Global from the global options block.
func (b *builder) global(gn *node) error {
	g := &b.cfg.Global
	g.Pos = gn.open
	seen := map[string]Pos{}
	var adminTok, tokenTok *token
	for _, n := range gn.block {
		if err := once(seen, n); err != nil {
			return err
		}
		var err error
		switch n.name() {
		case "admin":
			adminTok = &n.args[0]
			err = b.admin(n, &tokenTok)
		case "admin_token":
			if err = n.simple(1); err == nil {
				if tokenTok != nil {
					return errorf(n.args[0].pos, "admin_token: the token is already set at %s", tokenTok.pos)
				}
				tokenTok = &n.args[1]
				g.AdminToken, err = nonEmpty(n, n.arg(0))
			}
		case "http_port", "https_port":
			var p int
			if err = n.simple(1); err == nil {
				p, err = intArg(n, n.arg(0), 1, 65535)
			}
			if n.name() == "http_port" {
				g.HTTPPort = p
			} else {
				g.HTTPSPort = p
			}
		case "email":
			if err = n.simple(1); err == nil {
				g.Email = n.arg(0).text
				if !strings.Contains(g.Email, "@") {
					err = errorf(n.arg(0).pos, "email: %q is not an email address", g.Email)
				}
			}
		case "acme_ca":
			if err = n.simple(1); err == nil {
				g.ACMECA = n.arg(0).text
				if msg := checkURL(g.ACMECA); msg != "" {
					err = errorf(n.arg(0).pos, "acme_ca: %s", msg)
				}
			}
		case "acme_ca_root":
			if err = n.simple(1); err == nil {
				g.ACMECARoot, err = nonEmpty(n, n.arg(0))
			}
		case "storage":
			err = b.storage(n)
		case "cluster":
			err = b.cluster(n)
		case "drain_delay":
			if err = n.simple(1); err == nil {
				g.DrainDelay, err = durArg(n, n.arg(0), true)
			}
		case "shutdown_timeout":
			if err = n.simple(1); err == nil {
				g.ShutdownTimeout, err = durArg(n, n.arg(0), false)
			}
		case "log":
			err = b.log(n)
		default:
			err = unknown(n, "global option", globalOptions, siteDirectives, "a site block")
		}
		if err != nil {
			return err
		}
	}
	if g.Admin != "" && g.AdminToken == "" {
		host, _, _ := parseHostPort(g.Admin)
		if !isLoopbackHost(host) {
			return errorf(adminTok.pos, "admin: %s is not a loopback address, so the admin API needs a token (admin_token)", g.Admin)
		}
	}
	return nil
}

// admin parses "admin ADDR|off [{ token T }]".
func (b *builder) admin(n *node, tokenTok **token) error {
	g := &b.cfg.Global
	if err := n.argc(0, 1); err != nil {
		return err
	}
	if n.nargs() == 1 {
		a := n.arg(0)
		if a.text == "off" {
			if n.hasBlock {
				return errorf(n.open, "admin off takes no block")
			}
			g.Admin = ""
			return nil
		}
		if _, _, ok := parseHostPort(a.text); !ok {
			return errorf(a.pos, "admin: %q is not host:port (or off)", a.text)
		}
		g.Admin = a.text
	}
	for _, s := range n.block {
		switch s.name() {
		case "token":
			if err := s.simple(1); err != nil {
				return err
			}
			if *tokenTok != nil {
				return errorf(s.args[0].pos, "token: the admin token is already set at %s", (*tokenTok).pos)
			}
			*tokenTok = &s.args[1]
			var err error
			if g.AdminToken, err = nonEmpty(s, s.arg(0)); err != nil {
				return err
			}
		default:
			return unknown(s, "admin option", []string{"token"}, nil, "")
		}
	}
	return nil
}

// storage parses "storage file [DIR]" and "storage s3 { ... }".
func (b *builder) storage(n *node) error {
	st := &b.cfg.Global.Storage
	st.Pos = n.args[0].pos
	if err := n.argc(1, 2); err != nil {
		return err
	}
	switch kind := n.arg(0); kind.text {
	case "file":
		if err := n.noBlock(); err != nil {
			return err
		}
		st.Kind = "file"
		if n.nargs() == 2 {
			st.Dir = n.arg(1).text
		}
	case "s3":
		if err := n.argc(1, 1); err != nil {
			return err
		}
		st.Kind = "s3"
		seen := map[string]Pos{}
		for _, s := range n.block {
			if err := once(seen, s); err != nil {
				return err
			}
			known := []string{"bucket", "prefix", "region", "endpoint"}
			if !slices.Contains(known, s.name()) {
				return unknown(s, "storage s3 option", known, nil, "")
			}
			if err := s.simple(1); err != nil {
				return err
			}
			v := s.arg(0).text
			switch s.name() {
			case "bucket":
				st.Bucket = v
			case "prefix":
				st.Prefix = v
			case "region":
				st.Region = v
			case "endpoint":
				if msg := checkURL(v); msg != "" {
					return errorf(s.arg(0).pos, "endpoint: %s", msg)
				}
				st.Endpoint = v
			}
		}
		if st.Bucket == "" {
			return errorf(kind.pos, "storage s3: bucket is required")
		}
	default:
		return errorf(kind.pos, "storage: unknown kind %q (want file or s3)", kind.text)
	}
	return nil
}

// cluster parses "cluster NAME { ... }".
func (b *builder) cluster(n *node) error {
	if err := n.argc(1, 1); err != nil {
		return err
	}
	c := &Cluster{
		Name:       n.arg(0).text,
		Bind:       "0.0.0.0:7946", // memberlist's default port
		Profile:    "lan",
		SessionTTL: 30 * time.Minute, // Tomcat's default session-timeout
		Pos:        n.args[0].pos,
	}
	if !validName(c.Name) {
		return errorf(n.arg(0).pos, "cluster: bad name %q (letters, digits, '.', '_', '-')", c.Name)
	}
	seen := map[string]Pos{}
	for _, s := range n.block {
		if s.name() != "gossip_key" && s.name() != "discover" {
			if err := once(seen, s); err != nil {
				return err
			}
		}
		var err error
		switch s.name() {
		case "bind":
			if err = s.simple(1); err == nil {
				c.Bind = s.arg(0).text
				if _, _, ok := parseHostPort(c.Bind); !ok {
					err = errorf(s.arg(0).pos, "bind: %q is not host:port", c.Bind)
				}
			}
		case "advertise":
			if err = s.simple(1); err == nil {
				c.Advertise = s.arg(0).text
				if _, _, ok := parseHostPort(c.Advertise); !ok && c.Advertise != "auto" {
					err = errorf(s.arg(0).pos, "advertise: %q is not host:port (or auto)", c.Advertise)
				}
			}
		case "gossip_key":
			if err = s.argc(1, -1); err == nil {
				err = s.noBlock()
			}
			for i := 0; err == nil && i < s.nargs(); i++ {
				if msg := gossipKeyError(s.arg(i).text); msg != "" {
					err = errorf(s.arg(i).pos, "gossip_key: key %s", msg)
				}
				c.GossipKey = append(c.GossipKey, s.arg(i).text)
			}
		case "profile":
			if err = s.simple(1); err == nil {
				c.Profile, err = oneOf(s, s.arg(0), "profile", profiles)
			}
		case "discover":
			var d Discover
			if d, err = discover(s); err == nil {
				c.Discover = append(c.Discover, d)
			}
		case "session_ttl":
			if err = s.simple(1); err == nil {
				c.SessionTTL, err = durArg(s, s.arg(0), false)
			}
		default:
			err = unknown(s, "cluster option", []string{"bind", "advertise", "gossip_key", "profile", "discover", "session_ttl"}, nil, "")
		}
		if err != nil {
			return err
		}
	}
	b.cfg.Global.Cluster = c
	return nil
}

// discover parses a cluster's "discover KIND ...".
func discover(n *node) (Discover, error) {
	if err := n.argc(1, -1); err != nil {
		return Discover{}, err
	}
	kind := n.arg(0)
	d := Discover{Kind: kind.text, Pos: n.args[0].pos}
	switch kind.text {
	case "static", "dns":
		if err := n.noBlock(); err != nil {
			return d, err
		}
		if n.nargs() < 2 {
			return d, errorf(kind.pos, "discover %s: want at least one address", kind.text)
		}
		for _, t := range n.args[2:] {
			if kind.text == "static" {
				if h, p, ok := parseHostPort(t.text); !ok || h == "" || p == 0 {
					return d, errorf(t.pos, "discover static: %q is not host:port", t.text)
				}
			} else if t.text == "" || strings.ContainsAny(t.text, "/ ") {
				return d, errorf(t.pos, "discover dns: %q is not a DNS name", t.text)
			}
			d.Addrs = append(d.Addrs, t.text)
		}
	case "ec2", "s3":
		if n.nargs() > 1 {
			return d, errorf(n.arg(1).pos, "discover %s: options go in a block, not %q", kind.text, n.arg(1).text)
		}
		for _, s := range n.block {
			if err := s.argc(1, -1); err != nil {
				return d, err
			}
			if err := s.noBlock(); err != nil {
				return d, err
			}
			if d.Options == nil {
				d.Options = map[string][]string{}
			}
			for _, t := range s.args[1:] {
				d.Options[s.name()] = append(d.Options[s.name()], t.text)
			}
		}
		if kind.text == "s3" && len(d.Options["bucket"]) == 0 {
			return d, errorf(kind.pos, "discover s3: bucket is required")
		}
	default:
		return d, errorf(kind.pos, "discover: unknown provider %q (want static, dns, ec2 or s3)", kind.text)
	}
	return d, nil
}

// log parses "log { level L; format F }".
func (b *builder) log(n *node) error {
	if err := n.argc(0, 0); err != nil {
		return err
	}
	l := &b.cfg.Global.Log
	seen := map[string]Pos{}
	for _, s := range n.block {
		if err := once(seen, s); err != nil {
			return err
		}
		var err error
		switch s.name() {
		case "level":
			if err = s.simple(1); err == nil {
				l.Level, err = oneOf(s, s.arg(0), "level", logLevels)
			}
		case "format":
			if err = s.simple(1); err == nil {
				l.Format, err = oneOf(s, s.arg(0), "format", []string{"json", "console"})
			}
		default:
			err = unknown(s, "log option", []string{"level", "format"}, nil, "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

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
				return nil, errorf(p, "site address %q: %v", piece, err)
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
	var root *token
	proxies := 0
	for _, n := range sn.body {
		if n.name() != "reverse_proxy" && n.name() != "trusted_proxies" {
			if err := once(seen, n); err != nil {
				return nil, err
			}
		}
		var err error
		switch n.name() {
		case "trusted_proxies":
			err = trustedProxies(n, s)
		case "tls":
			s.TLS, err = tlsDirective(n)
		case "reverse_proxy":
			proxies++
			var bal *Balancer
			if bal, err = b.reverseProxy(n, s, proxies); err == nil {
				s.Balancers = append(s.Balancers, bal)
			}
		case "file_server":
			s.FileServer, err = fileServer(n)
		case "root":
			if err = n.argc(1, 2); err == nil {
				err = n.noBlock()
			}
			if err == nil && n.nargs() == 2 {
				if n.arg(0).text != "*" {
					err = errorf(n.arg(0).pos, "root: only the * matcher is supported, got %q", n.arg(0).text)
				}
			}
			root = &n.args[n.nargs()]
		case "access_log":
			s.AccessLog, err = accessLog(n)
		case "import_jk":
			s.ImportJK, err = importJK(n)
		default:
			err = unknown(n, "directive", siteDirectives, globalOptions, "the global options block")
		}
		if err != nil {
			return nil, err
		}
	}
	if s.TLS != nil && s.TLS.Mode == "off" {
		for _, a := range s.Addresses {
			if a.Scheme == "https" {
				return nil, errorf(s.TLS.Pos, "tls off: the site has the https address %q", a.Raw)
			}
		}
	}
	if s.ImportJK != nil {
		if ExpandImportJK == nil {
			return nil, errorAt(s.ImportJK.Pos, "import_jk: mod_jk support not built")
		}
		if err := ExpandImportJK(s); err != nil {
			if ce, ok := errors.AsType[*Error](err); ok {
				return nil, ce
			}
			return nil, errorf(s.ImportJK.Pos, "import_jk: %v", err)
		}
		if len(s.Balancers) < proxies {
			return nil, errorAt(s.ImportJK.Pos, "import_jk: the loader removed reverse_proxy balancers")
		}
		for _, bal := range s.Balancers[proxies:] {
			if bal == nil {
				return nil, errorAt(s.ImportJK.Pos, "import_jk: the loader added a nil balancer")
			}
			if bal.Pos == (Pos{}) {
				bal.Pos = s.ImportJK.Pos
			}
			if err := b.checkBalancer(bal, nil, nil); err != nil {
				return nil, err
			}
		}
	}
	if fs := s.FileServer; fs != nil && fs.Root == "" {
		switch {
		case root != nil:
			fs.Root = root.text
		case s.ImportJK != nil && s.ImportJK.DocRoot != "":
			fs.Root = s.ImportJK.DocRoot
		default:
			return nil, errorf(fs.Pos, "file_server: no root (set root DIR in its block or the site)")
		}
	} else if root != nil && s.FileServer == nil {
		return nil, errorf(root.pos, "root: the site has no file_server")
	}
	return s, nil
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
	if err := n.argc(1, -1); err != nil {
		return err
	}
	if err := n.noBlock(); err != nil {
		return err
	}
	for _, t := range n.args[1:] {
		if t.text == "private_ranges" {
			s.TrustedProxies = append(s.TrustedProxies, privateRanges...)
			continue
		}
		p, ok := parsePrefix(t.text)
		if !ok {
			return errorf(t.pos, "trusted_proxies: %q is not a CIDR or IP address (or private_ranges)", t.text)
		}
		s.TrustedProxies = append(s.TrustedProxies, p)
	}
	return nil
}

// tlsDirective parses "tls internal|off|CERT KEY" and "tls { on_demand; ask URL }".
func tlsDirective(n *node) (*TLS, error) {
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
			return nil, errorf(n.arg(0).pos, "tls: want internal, off or CERT KEY, got %q", n.arg(0).text)
		}
	case 2:
		t.Mode, t.CertFile, t.KeyFile = "files", n.arg(0).text, n.arg(1).text
	}
	if t.Mode == "off" {
		return t, n.noBlock()
	}
	var onDemand *node
	for _, s := range n.block {
		switch s.name() {
		case "on_demand":
			if err := s.simple(0); err != nil {
				return nil, err
			}
			onDemand = s
		case "ask":
			if err := s.simple(1); err != nil {
				return nil, err
			}
			if msg := checkURL(s.arg(0).text); msg != "" {
				return nil, errorf(s.arg(0).pos, "ask: %s", msg)
			}
			t.OnDemandAsk = s.arg(0).text
		default:
			return nil, unknown(s, "tls option", []string{"on_demand", "ask"}, nil, "")
		}
	}
	switch {
	case onDemand != nil && t.OnDemandAsk == "":
		return nil, errorf(onDemand.args[0].pos, "on_demand: needs ask URL, which approves each name before a certificate is issued")
	case onDemand == nil && t.OnDemandAsk != "":
		return nil, errorf(t.Pos, "tls: ask is only used with on_demand")
	case onDemand != nil && t.Mode == "files":
		return nil, errorf(onDemand.args[0].pos, "on_demand: not with certificate files")
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

var (
	logFormats = []string{"json", "console", "combined"}
)

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
