package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// global fills Config.Global from the global options block.
func (b *builder) global(gn *node) error {
	g := &b.cfg.Global
	g.Pos = gn.open
	seen := map[string]Pos{}
	var adminTok, tokenTok *token
	for _, n := range gn.block {
		if n.name() != "servers" && n.name() != "log" {
			if err := once(seen, n); err != nil {
				return err
			}
		}
		var err error
		switch n.name() {
		case "import_apache":
			_, err = importApache(n) // its sites were added by expandApache
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
		case "acme_dns":
			g.ACMEDNS, err = b.dnsProvider(n)
		case "acme_eab":
			g.ACMEEAB, err = acmeEAB(n)
		case "storage":
			err = b.storage(n)
		case "cluster":
			err = b.cluster(n)
		case "agent":
			err = b.agent(n)
		case "drain_delay":
			if prev, dup := seen["shutdown_delay"]; dup && prev != n.args[0].pos {
				return errorf(n.args[0].pos, "drain_delay is set twice (first at %s, as Caddy's shutdown_delay)", prev)
			}
			if err = n.simple(1); err == nil {
				g.DrainDelay, err = durArg(n, n.arg(0), true)
			}
		case "shutdown_timeout":
			if prev, dup := seen["grace_period"]; dup && prev != n.args[0].pos {
				return errorf(n.args[0].pos, "shutdown_timeout is set twice (first at %s, as Caddy's grace_period)", prev)
			}
			if err = n.simple(1); err == nil {
				g.ShutdownTimeout, err = durArg(n, n.arg(0), false)
			}
		case "log":
			err = b.log(n, seen)
		case "limits":
			err = limits(n, &g.Limits, false)
		default:
			var handled bool
			if handled, err = b.caddyGlobal(n, seen); !handled {
				err = unknownGlobal(n)
			}
		}
		if err != nil {
			return err
		}
	}
	b.resolveServers()
	if g.Admin != "" && g.AdminToken == "" {
		host, _, _ := parseHostPort(g.Admin)
		if !isLoopbackHost(host) {
			return errorf(adminTok.pos, "admin: %s is not a loopback address, so the admin API needs a token (admin_token)", g.Admin)
		}
	}
	return nil
}

// admin parses "admin ADDR|off [{ token T; origins NAME... }]".
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
		if strings.HasPrefix(a.text, "unix/") {
			b.warn(a.pos, "admin: a unix socket is not supported; the admin API listens on "+g.Admin)
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
		case "origins":
			if err := s.argc(1, -1); err != nil {
				return err
			}
			if err := s.noBlock(); err != nil {
				return err
			}
			if g.AdminOrigins != nil {
				return errorf(s.args[0].pos, "origins: given twice in the admin block")
			}
			for _, t := range s.args[1:] {
				name, msg := originName(t.text)
				if msg != "" {
					return errorf(t.pos, "origins: %q %s", t.text, msg)
				}
				g.AdminOrigins = append(g.AdminOrigins, name)
			}
		case "proxy_protocol":
			if g.AdminProxyProtocol != nil {
				return errorf(s.args[0].pos, "proxy_protocol: given twice in the admin block")
			}
			var err error
			if g.AdminProxyProtocol, err = prefixList(s); err != nil {
				return err
			}
		case "enforce_origin":
			if err := s.simple(0); err != nil {
				return err
			}
			b.warn(s.args[0].pos, "admin: enforce_origin is not honoured: the admin API checks Host against origins, and takes no cross-origin requests")
		default:
			return unknown(s, "admin option", []string{"token", "origins", "proxy_protocol", "enforce_origin"}, nil, "")
		}
	}
	return nil
}

// originName checks one name of admin's origins: a host name or an IP
// address, as a browser puts it in Host, without scheme or port (the admin
// API compares only the host part). It returns the name in lower case (an
// IP in canonical form) or why it is not one.
func originName(s string) (string, string) {
	if strings.Contains(s, "://") {
		return "", "is not a host name: give the name only, without scheme"
	}
	if h, ok := strings.CutPrefix(s, "["); ok {
		h, ok = strings.CutSuffix(h, "]")
		ip, err := netip.ParseAddr(h)
		if !ok || err != nil || !ip.Is6() {
			return "", "is not an IPv6 address in brackets (without port)"
		}
		return ip.String(), ""
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.String(), ""
	}
	if strings.Contains(s, ":") {
		return "", "has a port: give the name only (the port is not checked)"
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // ASCII lower case
		if !(c >= 'a' && c <= 'z' || s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '-' || s[i] == '_') {
			return "", fmt.Sprintf("has %q: a name is letters, digits, '.', '-' and '_'", s[i])
		}
	}
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return "", "is not a host name"
	}
	return strings.ToLower(s), ""
}

// storage parses "storage file [DIR]" and "storage s3 { ... }".
func (b *builder) storage(n *node) error {
	st := &b.cfg.Global.Storage
	st.Pos = n.args[0].pos
	if err := n.argc(1, 2); err != nil {
		return err
	}
	switch kind := n.arg(0); kind.text {
	case "file", "file_system": // file_system is Caddy's name
		st.Kind = "file"
		if n.nargs() == 2 {
			st.Dir = n.arg(1).text
		}
		if kind.text == "file" {
			return n.noBlock()
		}
		for _, s := range n.block { // Caddy's file_system { root DIR }
			if s.name() != "root" {
				return unknown(s, "storage file_system option", []string{"root"}, nil, "")
			}
			if err := s.simple(1); err != nil {
				return err
			}
			if st.Dir != "" {
				return errorf(s.args[0].pos, "storage file_system: the directory is already given")
			}
			st.Dir = s.arg(0).text
		}
	case "s3":
		if err := n.argc(1, 1); err != nil {
			return err
		}
		st.Kind = "s3"
		err := optionBlock(n, "storage s3 option", []string{"bucket", "prefix", "region", "endpoint"}, func(name, v string) {
			switch name {
			case "bucket":
				st.Bucket = v
			case "prefix":
				st.Prefix = v
			case "region":
				st.Region = v
			case "endpoint":
				st.Endpoint = v
			}
		})
		if err != nil {
			return err
		}
		if st.Bucket == "" {
			return errorf(kind.pos, "storage s3: bucket is required")
		}
	default:
		return errorf(kind.pos, "storage: unknown kind %q (want file or s3; Caddy's other storage modules are plugins)", kind.text)
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
		case "store":
			c.Store, err = sessionStore(s)
		default:
			err = unknown(s, "cluster option", []string{"bind", "advertise", "gossip_key", "profile", "discover", "session_ttl", "store"}, nil, "")
		}
		if err != nil {
			return err
		}
	}
	b.cfg.Global.Cluster = c
	return nil
}

// optionBlock parses a block of single-valued options (each at most once,
// each one of known; "endpoint" must be a URL) and hands each to set.
func optionBlock(n *node, what string, known []string, set func(name, value string)) error {
	seen := map[string]Pos{}
	for _, s := range n.block {
		if err := once(seen, s); err != nil {
			return err
		}
		if !slices.Contains(known, s.name()) {
			return unknown(s, what, known, nil, "")
		}
		if err := s.simple(1); err != nil {
			return err
		}
		v := s.arg(0).text
		if s.name() == "endpoint" {
			if msg := checkURL(v); msg != "" {
				return errorf(s.arg(0).pos, "endpoint: %s", msg)
			}
		}
		set(s.name(), v)
	}
	return nil
}

// sessionStore parses a cluster's "store dynamodb { table T; region R;
// endpoint URL }".
func sessionStore(n *node) (*SessionStore, error) {
	if err := n.argc(1, 1); err != nil {
		return nil, err
	}
	kind := n.arg(0)
	if kind.text != "dynamodb" {
		return nil, errorf(kind.pos, "store: unknown kind %q (want dynamodb)", kind.text)
	}
	st := &SessionStore{Kind: kind.text, Pos: n.args[0].pos}
	err := optionBlock(n, "store dynamodb option", []string{"table", "region", "endpoint"}, func(name, v string) {
		switch name {
		case "table":
			st.Table = v
		case "region":
			st.Region = v
		case "endpoint":
			st.Endpoint = v
		}
	})
	if err != nil {
		return nil, err
	}
	if st.Table == "" {
		return nil, errorf(kind.pos, "store dynamodb: table is required")
	}
	return st, nil
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

// log parses the process log's options, Tether's and Caddy's:
//
//	log [NAME] {
//	    output stdout|stderr|discard|file PATH
//	    format json|console
//	    level debug|info|warn|error (Caddy's DEBUG, INFO, ... too)
//	    include|exclude ...          (warned: one log has everything)
//	}
//
// A log with a NAME other than "default" is one of Caddy's named loggers,
// warned and not honoured.
func (b *builder) log(n *node, seen map[string]Pos) error {
	if err := n.argc(0, 1); err != nil {
		return err
	}
	if n.nargs() == 1 && n.arg(0).text != "default" {
		b.warn(n.args[0].pos, "log "+n.arg(0).text+": named loggers are not honoured: Tether has one process log (configure it with log { ... }) and per-site access logs")
		return nil
	}
	if prev, dup := seen["log default"]; dup {
		return errorf(n.args[0].pos, "log is set twice (first at %s)", prev)
	}
	seen["log default"] = n.args[0].pos
	l := &b.cfg.Global.Log
	debug := l.Level == "debug" // the debug option wins over a level
	oseen := map[string]Pos{}
	for _, s := range n.block {
		if err := once(oseen, s); err != nil {
			return err
		}
		var err error
		switch s.name() {
		case "level":
			var v string
			if err = s.simple(1); err == nil {
				v, err = logLevel(s, s.arg(0))
			}
			if !debug {
				l.Level = v
			}
		case "format":
			if err = s.argc(1, 1); err == nil {
				l.Format, err = oneOf(s, s.arg(0), "format", []string{"json", "console"})
			}
			if err == nil && s.hasBlock {
				b.warn(s.open, "log: format options are not honoured")
			}
		case "output":
			l.Output, err = b.logOutput(s)
		case "include", "exclude", "sampling":
			b.warn(s.args[0].pos, "log: "+s.name()+" is not honoured: the process log has every component's events")
		default:
			err = unknown(s, "log option", []string{"output", "format", "level", "include", "exclude"}, nil, "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}
