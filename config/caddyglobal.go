package config

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Caddy's global options that a front door needs, mapped onto Tether's
// settings where they mean the same (README, "Coming from Caddy", says
// where they differ), and those that mean nothing for Tether, accepted
// with a warning so that a pasted Caddyfile loads.

// caddyIgnored are Caddy's global options Tether accepts and does not
// honour, each with why: a warning names it.
var caddyIgnored = map[string]string{
	"persist_config":         "Tether keeps no copy of its config: the Caddyfile is the config",
	"skip_install_trust":     "Tether never installs its internal CA's root into a trust store (it is tether/ca/root.crt in the storage)",
	"storage_clean_interval": "Tether does not clean its storage",
	"renew_interval":         "certificates are checked on Tether's own schedule",
	"ocsp_interval":          "OCSP staples are refreshed on Tether's own schedule",
	"ocsp_stapling":          "Tether staples OCSP answers for ACME certificates",
	"key_type":               "Tether's certificates use ECDSA P-256 keys",
	"cert_lifetime":          "the CA chooses the lifetime",
	"renewal_window_ratio":   "certificates renew when a third of their lifetime is left",
	"preferred_chains":       "the CA's default chain is used",
	"acme_eab":               "ACME external account binding is not supported (Let's Encrypt needs none)",
	"cert_issuer":            "certificates come from acme_ca (Let's Encrypt by default) or tls internal",
	"fallback_sni":           "a handshake for an unknown name is refused",
	"pki":                    "Tether's internal CA has its own names",
	"events":                 "Tether has no event handlers",
	"metrics":                "Tether serves Prometheus metrics on its admin listener (/metrics)",
	"order":                  "Tether runs directives in Caddy's standard order; plugin directives are not supported",
	"ech":                    "Encrypted ClientHello is not supported",
}

// caddyGlobal parses a Caddy global option Tether takes. handled is false
// for a name it does not know.
func (b *builder) caddyGlobal(n *node, seen map[string]Pos) (handled bool, err error) {
	g := &b.cfg.Global
	name := n.name()
	if why, ok := caddyIgnored[name]; ok {
		b.warn(n.args[0].pos, name+" is not honoured: "+why)
		return true, nil
	}
	switch name {
	case "debug":
		if err := n.simple(0); err != nil {
			return true, err
		}
		g.Log.Level = "debug"
	case "auto_https":
		if err := n.simple(1); err != nil {
			return true, err
		}
		v, err := oneOf(n, n.arg(0), "mode", []string{"off", "disable_redirects", "disable_certs", "ignore_loaded_certs", "prefer_wildcard"})
		if err != nil {
			return true, err
		}
		if v == "prefer_wildcard" {
			b.warn(n.arg(0).pos, "auto_https prefer_wildcard is not honoured: each name gets its own certificate")
			return true, nil
		}
		g.AutoHTTPS = v
		b.autoHTTPSPos = n.args[0].pos
	case "local_certs":
		if err := n.simple(0); err != nil {
			return true, err
		}
		g.LocalCerts = true
		b.localCertsPos = n.args[0].pos
	case "on_demand_tls":
		return true, b.onDemandTLS(n)
	case "default_sni":
		if err := n.simple(1); err != nil {
			return true, err
		}
		v := strings.ToLower(n.arg(0).text)
		if v == "" || strings.ContainsAny(v, " /:*") {
			return true, errorf(n.arg(0).pos, "default_sni: %q is not a host name", n.arg(0).text)
		}
		g.DefaultSNI = v
	case "grace_period", "shutdown_delay":
		// Caddy's names of shutdown_timeout and drain_delay.
		canon := map[string]string{"grace_period": "shutdown_timeout", "shutdown_delay": "drain_delay"}[name]
		if prev, dup := seen[canon]; dup {
			return true, errorf(n.args[0].pos, "%s is Caddy's name of %s, already set at %s", name, canon, prev)
		}
		seen[canon] = n.args[0].pos
		if err := n.simple(1); err != nil {
			return true, err
		}
		d, err := ParseDuration(n.arg(0).text)
		if err != nil {
			return true, errorf(n.arg(0).pos, "%s: %w", name, err)
		}
		if msg := durationOutOfRange(canon, d); msg != "" {
			return true, errorf(n.arg(0).pos, "%s (%s)", msg, name)
		}
		if canon == "shutdown_timeout" {
			if d == 0 {
				return true, errorf(n.arg(0).pos, "grace_period: must be more than 0")
			}
			g.ShutdownTimeout = d
		} else {
			g.DrainDelay = d
		}
	case "servers":
		return true, b.servers(n)
	case "default_bind":
		return true, errorf(n.args[0].pos, "default_bind is not supported: give the IP in the site address (http://10.0.0.1:8080), which is the address Tether listens on")
	case "filesystem":
		return true, errorf(n.args[0].pos, "filesystem: Caddy's file system modules are plugins, not part of Tether; file_server serves the local disk")
	default:
		return false, nil
	}
	return true, nil
}

// caddyStandardGlobal are Caddy 2's standard global options
// (caddyserver.com/docs/caddyfile/options): a name outside them is a
// plugin's.
var caddyStandardGlobal = []string{"debug", "http_port", "https_port", "default_bind", "order", "storage", "storage_clean_interval",
	"admin", "persist_config", "log", "grace_period", "shutdown_delay", "metrics", "auto_https", "email", "default_sni",
	"fallback_sni", "local_certs", "skip_install_trust", "acme_ca", "acme_ca_root", "acme_eab", "acme_dns", "dns", "ech",
	"on_demand_tls", "key_type", "cert_issuer", "renew_interval", "cert_lifetime", "ocsp_interval", "ocsp_stapling",
	"renewal_window_ratio", "preferred_chains", "servers", "filesystem", "pki", "events"}

// caddyGlobalPlugins are global options of well-known Caddy plugins, with
// the plugin's module.
var caddyGlobalPlugins = map[string]string{
	"layer4":      "github.com/mholt/caddy-l4",
	"dynamic_dns": "github.com/mholt/caddy-dynamicdns",
	"crowdsec":    "github.com/hslatman/caddy-crowdsec-bouncer",
	"security":    "github.com/greenpau/caddy-security",
	"tailscale":   "github.com/tailscale/caddy-tailscale",
	"frankenphp":  "github.com/dunglas/frankenphp",
	"cache":       "github.com/caddyserver/cache-handler",
	"supervisor":  "github.com/baldinof/caddy-supervisor",
}

// unknownGlobal explains a global option Tether does not have: a known
// plugin's, one outside Caddy's standard options (a plugin's or a typo),
// or a standard one Tether lacks.
func unknownGlobal(n *node) error {
	name, at := n.name(), n.args[0].pos
	if mod, ok := caddyGlobalPlugins[name]; ok {
		return errorf(at, "%s is a Caddy plugin (%s), not part of Tether", name, mod)
	}
	if !slices.Contains(caddyStandardGlobal, name) && !slices.Contains(globalOptions, name) && !slices.Contains(siteDirectives, name) {
		return errorf(at, "unknown global option %q: not one of Caddy's standard options, so a Caddy plugin's or a typo; Tether has no plugins (its options: %s)", name, strings.Join(globalOptions, ", "))
	}
	return unknown(n, "global option", globalOptions, siteDirectives, "a site block")
}

func (b *builder) warn(p Pos, msg string) {
	b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: p, Msg: msg})
}

// onDemandTLS parses Caddy's on_demand_tls { ask URL; interval D; burst N;
// permission http { endpoint URL } }.
func (b *builder) onDemandTLS(n *node) error {
	if err := n.argc(0, 0); err != nil {
		return err
	}
	g := &b.cfg.Global
	setAsk := func(t token) error {
		if g.OnDemandAsk != "" {
			return errorf(t.pos, "on_demand_tls: the ask endpoint is already set")
		}
		if msg := checkURL(t.text); msg != "" {
			return errorf(t.pos, "ask: %s", msg)
		}
		g.OnDemandAsk = t.text
		return nil
	}
	for _, s := range n.block {
		switch s.name() {
		case "ask":
			if err := s.simple(1); err != nil {
				return err
			}
			if err := setAsk(s.arg(0)); err != nil {
				return err
			}
		case "interval", "burst":
			if err := s.simple(1); err != nil {
				return err
			}
			b.warn(s.args[0].pos, "on_demand_tls: "+s.name()+" is not honoured (Caddy deprecates it): Tether issues at most 10 new names a minute")
		case "permission":
			if err := s.argc(1, 1); err != nil {
				return err
			}
			if s.arg(0).text != "http" {
				return errorf(s.arg(0).pos, "on_demand_tls: permission %s is a Caddy plugin; Tether asks an HTTP endpoint (ask URL)", s.arg(0).text)
			}
			for _, e := range s.block {
				if e.name() != "endpoint" {
					return unknown(e, "permission http option", []string{"endpoint"}, nil, "")
				}
				if err := e.simple(1); err != nil {
					return err
				}
				if err := setAsk(e.arg(0)); err != nil {
					return err
				}
			}
		default:
			return unknown(s, "on_demand_tls option", []string{"ask", "permission", "interval", "burst"}, nil, "")
		}
	}
	if g.OnDemandAsk == "" {
		return errorf(n.args[0].pos, "on_demand_tls: want ask URL, which approves each name before a certificate is issued")
	}
	return nil
}

// serverOverride is one setting of a servers block, applied to limits.
type serverOverride func(l *Limits)

// servers parses Caddy's servers [ADDR] { ... }. A block without an
// address sets the global limits too; one with an address is resolved
// against the sites' listeners (serverFor).
func (b *builder) servers(n *node) error {
	if err := n.argc(0, 1); err != nil {
		return err
	}
	so := ServerOptions{Pos: n.args[0].pos}
	if n.nargs() == 1 {
		a := n.arg(0)
		host, port, ok := parseHostPort(strings.TrimPrefix(a.text, "tcp/"))
		if !ok || port == 0 {
			return errorf(a.pos, "servers: %q is not a listener address (:443 or HOST:PORT)", a.text)
		}
		so.Listen = netJoin(strings.Trim(host, "[]"), port)
	}
	for _, prev := range b.cfg.Global.Servers {
		if prev.Listen == so.Listen {
			what := "without an address"
			if so.Listen != "" {
				what = "for " + so.Listen
			}
			return errorf(so.Pos, "servers %s is already set at %s", what, prev.Pos)
		}
	}
	var overrides []serverOverride
	seen := map[string]Pos{}
	for _, s := range n.block {
		if s.name() != "trusted_proxies" {
			if err := once(seen, s); err != nil {
				return err
			}
		}
		switch s.name() {
		case "timeouts":
			if err := s.argc(0, 0); err != nil {
				return err
			}
			tseen := map[string]Pos{}
			for _, t := range s.block {
				if err := once(tseen, t); err != nil {
					return err
				}
				o, err := serverTimeout(t)
				if err != nil {
					return err
				}
				overrides = append(overrides, o)
			}
		case "max_header_size":
			if err := s.simple(1); err != nil {
				return err
			}
			v, err := parseSize(s.arg(0).text)
			if err != nil {
				return errorf(s.arg(0).pos, "max_header_size: %v", err)
			}
			if v < 1<<10 || v > 16<<20 {
				return errorf(s.arg(0).pos, "max_header_size: %s is out of range 1KiB..16MiB", s.arg(0).text)
			}
			overrides = append(overrides, func(l *Limits) { l.MaxHeaderSize = v })
		case "protocols":
			if err := s.argc(1, -1); err != nil {
				return err
			}
			if err := s.noBlock(); err != nil {
				return err
			}
			for _, t := range s.args[1:] {
				p, err := oneOf(s, t, "protocol", []string{"h1", "h2", "h2c", "h3"})
				if err != nil {
					return err
				}
				if p == "h3" {
					b.warn(t.pos, "protocols: h3 is not served: Tether serves HTTP/1.1 and HTTP/2 (h2c too)")
					continue
				}
				if !slices.Contains(so.Protocols, p) {
					so.Protocols = append(so.Protocols, p)
				}
			}
			if so.Protocols == nil {
				so.Protocols = []string{"h1", "h2"}
			}
		case "trusted_proxies":
			if err := s.argc(1, -1); err != nil {
				return err
			}
			if err := s.noBlock(); err != nil {
				return err
			}
			if s.arg(0).text != "static" {
				return errorf(s.arg(0).pos, "trusted_proxies: %s is a Caddy plugin; want static RANGES... (or private_ranges)", s.arg(0).text)
			}
			rest := &node{args: append([]token{s.args[0]}, s.args[2:]...)}
			ps, err := prefixList(rest)
			if err != nil {
				return err
			}
			so.TrustedProxies = append(so.TrustedProxies, ps...)
		case "trusted_proxies_strict":
			// Tether always reads X-Forwarded-For from the right, skipping
			// trusted proxies: what strict asks for.
			if err := s.simple(0); err != nil {
				return err
			}
		case "client_ip_headers":
			if err := s.argc(1, -1); err != nil {
				return err
			}
			if err := s.noBlock(); err != nil {
				return err
			}
			for _, t := range s.args[1:] {
				if t.text == "" || strings.ContainsAny(t.text, " :;,") {
					return errorf(t.pos, "client_ip_headers: %q is not a header field name", t.text)
				}
				so.ClientIPHeaders = append(so.ClientIPHeaders, canonicalHeader(t.text))
			}
		case "listener_wrappers":
			if err := b.listenerWrappers(s, &so); err != nil {
				return err
			}
		case "name", "keepalive_interval", "keepalive_idle", "keepalive_count", "0rtt", "trusted_proxies_unix",
			"trace", "enable_full_duplex", "log_credentials", "strict_sni_host", "metrics", "allow_h2c":
			b.warn(s.args[0].pos, "servers: "+s.name()+" is not honoured")
		default:
			return unknown(s, "servers option", []string{"timeouts", "max_header_size", "protocols", "trusted_proxies",
				"trusted_proxies_strict", "client_ip_headers", "listener_wrappers"}, nil, "")
		}
	}
	b.serverOverrides = append(b.serverOverrides, overrides)
	b.cfg.Global.Servers = append(b.cfg.Global.Servers, so)
	return nil
}

func netJoin(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// serverTimeout parses one option of a servers block's timeouts.
func serverTimeout(t *node) (serverOverride, error) {
	canon := map[string]string{"read_header": "header_timeout", "read_body": "body_timeout", "write": "write_timeout", "idle": "idle_timeout"}[t.name()]
	if canon == "" {
		return nil, unknown(t, "timeouts option", []string{"read_header", "read_body", "write", "idle"}, nil, "")
	}
	if err := t.simple(1); err != nil {
		return nil, err
	}
	d, err := ParseDuration(t.arg(0).text)
	if err != nil {
		return nil, errorf(t.arg(0).pos, "%s: %w", t.name(), err)
	}
	i := slices.IndexFunc(limitOptions, func(o limitOption) bool { return o.name == canon })
	o := limitOptions[i]
	if int64(d) < o.min || int64(d) > o.max {
		return nil, errorf(t.arg(0).pos, "%s (Tether's %s): %s is out of range %s..%s", t.name(), canon, t.arg(0).text, o.format(o.min), o.format(o.max))
	}
	return func(l *Limits) { o.set(l, int64(d)) }, nil
}

// listenerWrappers parses a servers block's listener_wrappers: tls (where
// TLS sits: always after PROXY protocol in Tether) and proxy_protocol {
// allow RANGES...; deny ...; timeout D; fallback_policy P }, which becomes
// the sites' proxy_protocol.
func (b *builder) listenerWrappers(n *node, so *ServerOptions) error {
	if err := n.argc(0, 0); err != nil {
		return err
	}
	for _, w := range n.block {
		switch w.name() {
		case "tls":
			if err := w.simple(0); err != nil {
				return err
			}
		case "http_redirect":
			b.warn(w.args[0].pos, "listener_wrappers: http_redirect is not honoured: plain HTTP on an https port is refused")
		case "proxy_protocol":
			if err := w.argc(0, 0); err != nil {
				return err
			}
			for _, o := range w.block {
				switch o.name() {
				case "allow":
					ps, err := prefixList(o)
					if err != nil {
						return err
					}
					so.ProxyProtocol = append(so.ProxyProtocol, ps...)
				case "deny":
					// Tether refuses a PROXY header from any peer not allowed.
					if _, err := prefixList(o); err != nil {
						return err
					}
				case "timeout":
					if err := o.simple(1); err != nil {
						return err
					}
					if _, err := ParseDuration(o.arg(0).text); err != nil {
						return errorf(o.arg(0).pos, "timeout: %v", err)
					}
					b.warn(o.args[0].pos, "proxy_protocol: timeout is not honoured: a PROXY header must come within 5s")
				case "fallback_policy":
					if err := o.simple(1); err != nil {
						return err
					}
					p, err := oneOf(o, o.arg(0), "policy", []string{"ignore", "use", "reject", "require", "skip"})
					if err != nil {
						return err
					}
					if p != "reject" && p != "require" {
						b.warn(o.arg(0).pos, "proxy_protocol: fallback_policy "+p+" is not honoured: Tether requires the header from the allowed peers and refuses it from any other")
					}
				default:
					return unknown(o, "proxy_protocol option", []string{"allow", "deny", "timeout", "fallback_policy"}, nil, "")
				}
			}
			if len(so.ProxyProtocol) == 0 {
				return errorf(w.args[0].pos, "proxy_protocol: want allow RANGES: the peers (load balancers) that send the PROXY header")
			}
		default:
			return errorf(w.args[0].pos, "listener_wrappers: %s is a Caddy plugin or not supported (want tls or proxy_protocol)", w.name())
		}
	}
	return nil
}

// resolveServers applies the servers blocks to the limits once the whole
// global block is read: the one without an address to the global limits,
// each one with an address to a copy of the global limits as the limits
// block left them (Caddy's blocks do not inherit from each other).
func (b *builder) resolveServers() {
	g := &b.cfg.Global
	base := g.Limits
	for i := range g.Servers {
		l := base
		for _, o := range b.serverOverrides[i] {
			o(&l)
		}
		g.Servers[i].Limits = l
		if g.Servers[i].Listen == "" {
			g.Limits = l
		}
	}
}

// ServerFor returns the servers block of a listener bound to bind
// (HOST:PORT, HOST empty for every interface): the one naming that address
// or its port, else the one without an address; nil if none applies.
func (g *Global) ServerFor(bind string) *ServerOptions {
	host, port, ok := parseHostPort(bind)
	if !ok {
		return nil
	}
	var any *ServerOptions
	for i := range g.Servers {
		so := &g.Servers[i]
		if so.Listen == "" {
			any = so
			continue
		}
		h, p, _ := parseHostPort(so.Listen)
		if p == port && (h == "" || h == host) {
			return so
		}
	}
	return any
}

// siteServer is the servers block that applies to site s: that of its
// first address's listener.
func (b *builder) siteServer(s *Site) *ServerOptions {
	g := &b.cfg.Global
	if len(g.Servers) == 0 {
		return nil
	}
	a := s.Addresses[0]
	port := a.Port
	if port == 0 {
		port = g.HTTPSPort
		if a.Scheme == "http" {
			port = g.HTTPPort
		}
	}
	host := ""
	if a.Host == "localhost" {
		host = "127.0.0.1"
	} else if ip, err := netip.ParseAddr(a.Host); err == nil {
		host = ip.String()
	}
	return g.ServerFor(netJoin(host, port))
}

// applyServer gives site s what its servers block sets for it: trusted
// proxies, client IP headers and PROXY protocol unless the site sets
// them, and the block's limits under the site's own.
func applyServer(s *Site, so *ServerOptions, global Limits) {
	if so == nil {
		return
	}
	if len(s.TrustedProxies) == 0 {
		s.TrustedProxies = slices.Clone(so.TrustedProxies)
	}
	s.ClientIPHeaders = slices.Clone(so.ClientIPHeaders)
	if len(s.ProxyProtocol) == 0 {
		s.ProxyProtocol = slices.Clone(so.ProxyProtocol)
	}
	if s.Limits == nil && so.Limits != global {
		l := so.Limits
		s.Limits = &l
	}
}

// caddyTLS applies the global TLS options to site s: on_demand_tls's ask
// endpoint, local_certs, and auto_https without certificates.
func (b *builder) caddyTLS(s *Site) error {
	g := &b.cfg.Global
	if s.TLS == nil && g.LocalCerts {
		s.TLS = &TLS{Mode: "internal", Pos: b.localCertsPos}
	}
	if s.TLS != nil || (g.AutoHTTPS != "off" && g.AutoHTTPS != "disable_certs") {
		return nil
	}
	for _, a := range s.Addresses {
		scheme := a.Scheme
		if scheme == "" {
			scheme = "https"
			if a.Port != 0 && a.Port == g.HTTPPort {
				scheme = "http"
			}
		}
		if scheme == "https" {
			return errorf(s.Pos, "site %s is served over HTTPS, but auto_https %s (at %s) leaves it without a certificate: write http://%s for plain HTTP, or give it tls CERT KEY or tls internal",
				a.Raw, g.AutoHTTPS, b.autoHTTPSPos, strings.TrimPrefix(a.Raw, "https://"))
		}
	}
	return nil
}

// onDemandAsk gives tls { on_demand } without an ask of its own the
// global on_demand_tls ask; without either it is an error at on_demand.
func (b *builder) onDemandAsk(n *node, t *TLS) error {
	if !t.OnDemand || t.OnDemandAsk != "" {
		return nil
	}
	if ask := b.cfg.Global.OnDemandAsk; ask != "" {
		t.OnDemandAsk = ask
		return nil
	}
	at := t.Pos
	for _, s := range n.block {
		if s.name() == "on_demand" {
			at = s.args[0].pos
		}
	}
	return errorf(at, "on_demand: needs ask URL (in the tls block, or the global on_demand_tls), which approves each name before a certificate is issued")
}

// logOutput parses a global log block's output: stdout, stderr, discard
// or file PATH (rolling options warned).
func (b *builder) logOutput(s *node) (string, error) {
	if err := s.argc(1, 2); err != nil {
		return "", err
	}
	switch o := s.arg(0).text; o {
	case "stdout", "stderr", "discard":
		if err := s.simple(1); err != nil {
			return "", err
		}
		return o, nil
	case "file":
		if s.nargs() != 2 || s.arg(1).text == "" {
			return "", errorf(s.arg(0).pos, "log: output file: want a path")
		}
		if s.hasBlock {
			b.warn(s.open, "log: output file options (roll_size, roll_keep, ...) are not honoured: rotate with logrotate (copytruncate)")
		}
		return s.arg(1).text, nil
	}
	return "", errorf(s.arg(0).pos, "log: output %q: want stdout, stderr, discard or file PATH (%s is a Caddy module)", s.arg(0).text, s.arg(0).text)
}

// logLevel maps Caddy's level names (DEBUG, INFO, WARN, ERROR, and the
// rare PANIC and FATAL, logged as error) onto Tether's.
func logLevel(s *node, t token) (string, error) {
	v := strings.ToLower(t.text)
	switch v {
	case "warning":
		v = "warn"
	case "panic", "fatal", "dpanic":
		v = "error"
	}
	return oneOf(s, token{text: v, pos: t.pos}, "level", logLevels)
}
