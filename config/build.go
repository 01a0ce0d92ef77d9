package config

import (
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
		ResponseHeaderTimeout: 60 * time.Second, // finite, unlike mod_jk's reply_timeout=0 (wait forever)
		IdleTimeout:           90 * time.Second, // net/http's DefaultTransport
		MaxIdleConns:          256,
		AJPPacketSize:         8192, // AJP13's standard packet size (Tomcat packetSize default)
	}
}

// Enumerations of the config, for validation and messages.
var (
	lbPolicies = []string{"round_robin", "least_requests", "least_busy", "p2c", "random", "ip_hash", "first", "uri_hash", "header", "query", "random_choose"}
	// keylessPolicies are those a fallback may name.
	keylessPolicies = []string{"round_robin", "least_requests", "least_busy", "least_conn", "p2c", "random", "ip_hash", "client_ip_hash", "first"}
	memberStates    = []string{"active", "disabled", "stopped"}
	logLevels       = []string{"debug", "info", "warn", "error"}
	profiles        = []string{"lan", "wan", "local"}
)

// globalOptions and siteDirectives name the directives of each level, to
// point a directive written at the wrong level to the right one.
var (
	globalOptions  = []string{"admin", "admin_token", "http_port", "https_port", "email", "acme_ca", "acme_ca_root", "acme_dns", "acme_eab", "storage", "cluster", "agent", "drain_delay", "shutdown_timeout", "log", "limits", "debug", "auto_https", "local_certs", "on_demand_tls", "default_sni", "grace_period", "shutdown_delay", "servers", "import_apache"}
	siteDirectives = []string{"trusted_proxies", "proxy_protocol", "tls", "reverse_proxy", "file_server", "root", "access_log", "import_jk", "limits", "allow_methods", "encode", "header", "request_header", "request_body", "redir", "rewrite", "uri", "method", "respond", "basic_auth", "basicauth", "log", "handle", "handle_path", "route", "abort", "try_files", "error", "handle_errors"}
)

// builder turns a parsed tree into a validated Config.
type builder struct {
	opts      ParseOptions // with defaults filled in
	cfg       *Config
	balancers map[string]Pos    // balancer names in use
	sources   map[string]string // balancer name → its Source, for imported workers
	addresses map[string]Pos    // normalized site addresses in use
	proxies   map[string]int    // reverse_proxy blocks so far per default-name host (siteNameHost)
	groups    int               // the last route group number used

	// Caddy's global options, for the sites (caddyglobal.go).
	autoHTTPSPos    Pos                // auto_https
	localCertsPos   Pos                // local_certs
	serverOverrides [][]serverOverride // the limits each servers block sets, by index
}

func build(tr *tree, opts ParseOptions) (*Config, error) {
	b := &builder{opts: opts, cfg: &Config{}, balancers: map[string]Pos{}, addresses: map[string]Pos{}, proxies: map[string]int{}}
	g := &b.cfg.Global
	g.Admin = "127.0.0.1:9180"
	g.HTTPPort, g.HTTPSPort = 80, 443
	g.Storage.Kind = "file"
	g.ShutdownTimeout = 30 * time.Second
	g.Log.Level = "info"
	g.Limits = DefaultLimits()
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

// durationBounds are the sane ranges of the config's durations: below the
// minimum a value costs more than it can be worth (health_interval 1ns sent
// 15,000 checks in 4 s), above the maximum it is a typo.
var durationBounds = map[string][2]time.Duration{
	"recover_time":            {100 * time.Millisecond, 24 * time.Hour},
	"health_interval":         {50 * time.Millisecond, 24 * time.Hour},
	"health_timeout":          {10 * time.Millisecond, time.Hour},
	"dial_timeout":            {10 * time.Millisecond, 10 * time.Minute},
	"response_header_timeout": {10 * time.Millisecond, 24 * time.Hour},
	"idle_timeout":            {100 * time.Millisecond, 24 * time.Hour},
	"keepalive":               {100 * time.Millisecond, 24 * time.Hour}, // idle_timeout
	"keepalive_interval":      {time.Second, 24 * time.Hour},
	"tls_timeout":             {10 * time.Millisecond, 10 * time.Minute},
	"expect_continue_timeout": {10 * time.Millisecond, 10 * time.Minute},
	"read_timeout":            {10 * time.Millisecond, 24 * time.Hour},
	"write_timeout":           {10 * time.Millisecond, 24 * time.Hour},
	"dial_fallback_delay":     {time.Millisecond, 10 * time.Second},
	"drain_delay":             {0, time.Hour},
	"shutdown_timeout":        {100 * time.Millisecond, 24 * time.Hour},
	"session_ttl":             {time.Second, 30 * 24 * time.Hour},
}

// durArg parses a duration; positive durations only unless zeroOK, and
// within durationBounds of the directive.
func durArg(n *node, t token, zeroOK bool) (time.Duration, error) {
	d, err := ParseDuration(t.text)
	if err != nil {
		return 0, errorf(t.pos, "%s: %w", n.name(), err)
	}
	if d == 0 && !zeroOK {
		return 0, errorf(t.pos, "%s: must be more than 0", n.name())
	}
	if msg := durationOutOfRange(n.name(), d); msg != "" {
		return 0, errorAt(t.pos, msg)
	}
	return d, nil
}

// durationOutOfRange returns why d is outside the bounds of directive name,
// or "". Zero is left to the caller (it often means the default).
func durationOutOfRange(name string, d time.Duration) string {
	b, ok := durationBounds[name]
	if !ok || d == 0 || d >= b[0] && d <= b[1] {
		return ""
	}
	return name + ": " + d.String() + " is out of range " + b[0].String() + ".." + b[1].String()
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
