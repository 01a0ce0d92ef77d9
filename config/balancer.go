package config

import (
	"slices"
	"strings"
	"time"
)

// reverseProxyOptions are the sub-directives of a reverse_proxy block.
var reverseProxyOptions = []string{
	"to", "backend", "name", "discover", "sticky", "sticky_cookie", "sticky_path_param", "sticky_force",
	"lb_policy", "max_fails", "recover_time", "fail_on_status", "health_uri", "health_interval",
	"health_timeout", "health_fails", "health_passes", "retries", "dial_timeout",
	"response_header_timeout", "idle_timeout", "max_idle_conns", "ajp_secret", "ajp_packet_size",
	"ajp_ping",
	// Caddy's spellings (caddyAliases) and options.
	"lb_retries", "fail_duration", "health_path", "health_status", "lb_try_duration",
	"header_up", "header_down",
}

// caddyAliases are Caddy's names of reverse_proxy options that Tether
// spells otherwise: the same option, so setting both is an error.
var caddyAliases = map[string]string{
	"lb_retries":    "retries",
	"fail_duration": "recover_time",
	"health_path":   "health_uri",
}

// reverseProxy parses "reverse_proxy [PATTERNS...] [MEMBERS...] [{ ... }]";
// defaultName is its name unless it sets one.
func (b *builder) reverseProxy(n *node, defaultName string) (*Balancer, error) {
	bal := DefaultBalancer()
	bal.Pos = n.args[0].pos
	bal.Name = defaultName
	namePos := bal.Pos
	redirects := map[int]Pos{} // member index → position of its redirect value
	for _, t := range n.args[1:] {
		switch {
		case strings.HasPrefix(t.text, "!"):
			if !validPattern(t.text[1:]) {
				return nil, errorf(t.pos, "reverse_proxy: bad exclude pattern %q (want !/exact, !/prefix/* or !*.suffix)", t.text)
			}
			bal.Excludes = append(bal.Excludes, t.text[1:])
		case strings.HasPrefix(t.text, "/") || strings.HasPrefix(t.text, "*"):
			if !validPattern(t.text) {
				return nil, errorf(t.pos, "reverse_proxy: bad path pattern %q (want /exact, /prefix/*, *.suffix or *)", t.text)
			}
			bal.Paths = append(bal.Paths, t.text)
		case strings.HasPrefix(t.text, "@"):
			return nil, errorf(t.pos, "reverse_proxy: named matchers are not supported; use path patterns such as /app/*")
		default:
			m, err := memberArg(n, t)
			if err != nil {
				return nil, err
			}
			bal.Members = append(bal.Members, m)
		}
	}
	seen := map[string]Pos{}
	var stickyCookie *token // a cookie named by "sticky learn|cookie NAME"
	var cookieDirective *node
	for _, d := range n.block {
		name := d.name()
		if canon, ok := caddyAliases[name]; ok {
			name = canon
		}
		if name != "to" && name != "backend" && name != "header_up" && name != "header_down" {
			if prev, dup := seen[name]; dup {
				return nil, errorf(d.args[0].pos, "%s is set twice (first at %s)", d.name(), prev)
			}
			seen[name] = d.args[0].pos
		}
		var err error
		switch name {
		case "to":
			if err = d.argc(1, -1); err == nil {
				err = d.noBlock()
			}
			for _, t := range d.args[1:] {
				if err != nil {
					break
				}
				var m Member
				if m, err = memberArg(d, t); err == nil {
					bal.Members = append(bal.Members, m)
				}
			}
		case "backend":
			var m Member
			var redirect Pos
			if m, redirect, err = backend(d); err == nil {
				if m.Redirect != "" {
					redirects[len(bal.Members)] = redirect
				}
				bal.Members = append(bal.Members, m)
			}
		case "name":
			if err = d.simple(1); err == nil {
				bal.Name, namePos = d.arg(0).text, d.arg(0).pos
				if !validName(bal.Name) {
					err = errorf(d.arg(0).pos, "name: bad balancer name %q (letters, digits and ._-:@~)", bal.Name)
				}
			}
		case "discover":
			if err = d.simple(2); err == nil {
				switch {
				case d.arg(0).text != "cluster":
					err = errorf(d.arg(0).pos, "discover: want cluster SERVICE, got %q", d.arg(0).text)
				case !validName(d.arg(1).text):
					err = errorf(d.arg(1).pos, "discover cluster: bad service name %q", d.arg(1).text)
				case b.cfg.Global.Cluster == nil:
					err = errorf(d.args[0].pos, "discover cluster: no cluster is configured in the global options")
				default:
					bal.DiscoverService = d.arg(1).text
				}
			}
		case "sticky":
			if _, ok := seen["lb_policy"]; ok && bal.Sticky.Mode == "cookie" {
				err = errorf(d.args[0].pos, "sticky: the balancer already has lb_policy cookie (Caddy's spelling of sticky cookie)")
				break
			}
			err = sticky(d, &bal.Sticky, &stickyCookie)
		case "sticky_cookie":
			if err = d.simple(1); err == nil {
				bal.Sticky.Cookie, err = nonEmpty(d, d.arg(0))
				cookieDirective = d
			}
		case "sticky_path_param":
			if err = d.simple(1); err == nil {
				bal.Sticky.PathParam, err = nonEmpty(d, d.arg(0))
			}
		case "sticky_force":
			if err = d.simple(1); err == nil {
				bal.Sticky.Force, err = onOff(d, d.arg(0))
			}
		case "lb_policy":
			_, stickySet := seen["sticky"]
			err = lbPolicy(d, bal, &stickyCookie, stickySet)
		case "max_fails":
			err = intOption(d, &bal.MaxFails, 1, 1000)
		case "recover_time":
			err = durOption(d, &bal.RecoverTime)
		case "fail_on_status":
			if err = d.argc(1, -1); err == nil {
				err = d.noBlock()
			}
			for _, t := range d.args[1:] {
				if err != nil {
					break
				}
				var code int
				if code, err = intArg(d, t, 100, 599); err == nil {
					bal.FailOnStatus = append(bal.FailOnStatus, code)
				}
			}
		case "health_uri":
			if err = d.simple(1); err == nil {
				bal.HealthURI = d.arg(0).text
				if !strings.HasPrefix(bal.HealthURI, "/") {
					err = errorf(d.arg(0).pos, "health_uri: %q must start with /", bal.HealthURI)
				}
			}
		case "header_up", "header_down":
			var op HeaderOp
			if err = d.argc(1, 3); err == nil {
				err = d.noBlock()
			}
			if err == nil {
				op, err = headerOp(d.arg(0), d.args[2:])
			}
			if err == nil && name == "header_up" {
				op.Deferred = false // request headers are set once, before sending
				bal.HeaderUp = append(bal.HeaderUp, op)
			} else if err == nil {
				bal.HeaderDown = append(bal.HeaderDown, op)
			}
		case "health_status":
			if err = d.simple(1); err == nil {
				bal.HealthStatus, err = healthStatus(d, d.arg(0))
			}
		case "lb_try_duration":
			var ignored time.Duration
			if err = durOption(d, &ignored); err == nil {
				b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.args[0].pos,
					Msg: "lb_try_duration is not honoured: Tether does not wait for a member to come back; a failed attempt goes at once to the failover member (retries, lb_retries)"})
			}
		case "health_interval":
			err = durOption(d, &bal.HealthInterval)
		case "health_timeout":
			err = durOption(d, &bal.HealthTimeout)
		case "health_fails":
			err = intOption(d, &bal.HealthFails, 1, 1000)
		case "health_passes":
			err = intOption(d, &bal.HealthPasses, 1, 1000)
		case "retries":
			err = intOption(d, &bal.Retries, 0, 100)
		case "dial_timeout":
			err = durOption(d, &bal.DialTimeout)
		case "response_header_timeout":
			err = durOption(d, &bal.ResponseHeaderTimeout)
		case "idle_timeout":
			err = durOption(d, &bal.IdleTimeout)
		case "max_idle_conns":
			err = intOption(d, &bal.MaxIdleConns, 1, 1<<20)
		case "ajp_secret":
			if err = d.simple(1); err == nil {
				bal.AJPSecret, err = nonEmpty(d, d.arg(0))
			}
		case "ajp_packet_size":
			err = intOption(d, &bal.AJPPacketSize, 8192, 65536)
		case "ajp_ping":
			if err = d.simple(1); err == nil {
				bal.AJPPing, err = onOff(d, d.arg(0))
			}
		default:
			err = unknown(d, "reverse_proxy option", reverseProxyOptions, nil, "")
		}
		if err != nil {
			return nil, err
		}
	}
	if stickyCookie != nil && cookieDirective != nil {
		return nil, errorf(cookieDirective.args[0].pos, "sticky_cookie: the cookie is already named by sticky at %s", stickyCookie.pos)
	}
	if err := b.checkBalancer(bal, &namePos, redirects); err != nil {
		return nil, err
	}
	return bal, nil
}

// validPattern checks a path pattern: "*", "/exact", "/prefix*" or
// "*suffix", with no other '*'.
func validPattern(p string) bool {
	if p == "*" {
		return true
	}
	if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*") {
		return false
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(p, "*"), "*")
	return inner != "" && !strings.Contains(inner, "*") && !(strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"))
}

func intOption(d *node, dst *int, min, max int) error {
	if err := d.simple(1); err != nil {
		return err
	}
	v, err := intArg(d, d.arg(0), min, max)
	if err == nil {
		*dst = v
	}
	return err
}

func durOption(d *node, dst *time.Duration) error {
	if err := d.simple(1); err != nil {
		return err
	}
	v, err := durArg(d, d.arg(0), false)
	if err == nil {
		*dst = v
	}
	return err
}

// sticky parses "sticky jvmroute|off" and "sticky learn|cookie NAME".
func sticky(d *node, st *Sticky, named **token) error {
	if err := d.argc(1, 2); err != nil {
		return err
	}
	if err := d.noBlock(); err != nil {
		return err
	}
	mode := d.arg(0)
	switch mode.text {
	case "jvmroute", "off":
		if d.nargs() > 1 {
			return errorf(d.arg(1).pos, "sticky %s: unexpected argument %q", mode.text, d.arg(1).text)
		}
	case "learn", "cookie":
		if d.nargs() < 2 {
			return errorf(mode.pos, "sticky %s: want a cookie name", mode.text)
		}
		name, err := nonEmpty(d, d.arg(1))
		if err != nil {
			return err
		}
		st.Cookie = name
		*named = &d.args[2]
	default:
		return errorf(mode.pos, "sticky: unknown mode %q (want jvmroute, learn COOKIE, cookie NAME or off)", mode.text)
	}
	st.Mode = mode.text
	return nil
}

// memberArg parses a member written as NAME=URL or URL; a member without a
// name is named after its host:port.
func memberArg(d *node, t token) (Member, error) {
	m := Member{Weight: 1, State: "active", Pos: t.pos}
	s := t.text
	urlPos := t.pos
	if name, u, ok := strings.Cut(s, "="); ok && !strings.ContainsAny(name, ":/") {
		if !validName(name) {
			return m, errorf(t.pos, "%s: bad member name %q (letters, digits and ._-:@~)", d.name(), name)
		}
		m.Name, s = name, u
		if t.kind == tokWord {
			urlPos.Col += len(name) + 1
		}
	}
	u, msg := parseMemberURL(s)
	if msg != "" {
		return m, errorf(urlPos, "%s: member %s", d.name(), msg)
	}
	m.URL = u
	if m.Name == "" {
		m.Name = u[strings.Index(u, "://")+3:]
	}
	return m, nil
}

// backend parses "backend NAME URL [{ weight N; domain D; redirect M; state S }]"
// and returns the position of the redirect value.
func backend(d *node) (Member, Pos, error) {
	var redirect Pos
	if err := d.argc(2, 2); err != nil {
		return Member{}, redirect, err
	}
	name := d.arg(0)
	if !validName(name.text) {
		return Member{}, redirect, errorf(name.pos, "backend: bad member name %q (letters, digits and ._-:@~)", name.text)
	}
	m := Member{Name: name.text, Weight: 1, State: "active", Pos: name.pos}
	u, msg := parseMemberURL(d.arg(1).text)
	if msg != "" {
		return m, redirect, errorf(d.arg(1).pos, "backend: member %s", msg)
	}
	m.URL = u
	seen := map[string]Pos{}
	for _, s := range d.block {
		if err := once(seen, s); err != nil {
			return m, redirect, err
		}
		var err error
		switch s.name() {
		case "weight":
			err = intOption(s, &m.Weight, 1, 1<<20)
		case "domain":
			if err = s.simple(1); err == nil {
				m.Domain, err = nonEmpty(s, s.arg(0))
			}
		case "redirect":
			if err = s.simple(1); err == nil {
				m.Redirect, err = nonEmpty(s, s.arg(0))
				redirect = s.arg(0).pos
			}
		case "state":
			if err = s.simple(1); err == nil {
				m.State, err = oneOf(s, s.arg(0), "state", memberStates)
			}
		default:
			err = unknown(s, "backend option", []string{"weight", "domain", "redirect", "state"}, nil, "")
		}
		if err != nil {
			return m, redirect, err
		}
	}
	return m, redirect, nil
}

// checkBalancer validates a whole balancer, from a reverse_proxy block or
// from ExpandImportJK, and claims its name. Members without a weight or
// state get the defaults. namePos and redirects (member index → position
// of its redirect value) refine error positions when known.
func (b *builder) checkBalancer(bal *Balancer, namePos *Pos, redirects map[int]Pos) error {
	at := bal.Pos
	if namePos != nil {
		at = *namePos
	}
	if bal.Name == "" {
		return errorf(at, "balancer without a name")
	}
	if prev, dup := b.balancers[bal.Name]; dup {
		// One mod_jk worker imported by several sites is one balancer.
		if bal.Source == "" || b.sources[bal.Name] != bal.Source {
			return errorf(at, "balancer name %q is already used by the balancer at %s", bal.Name, prev)
		}
	} else {
		b.balancers[bal.Name] = bal.Pos
		if bal.Source != "" {
			if b.sources == nil {
				b.sources = map[string]string{}
			}
			b.sources[bal.Name] = bal.Source
		}
	}
	// The Caddyfile's directives are checked where they are written; these
	// catch values that came from an import (mod_jk's milliseconds).
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"recover_time", bal.RecoverTime}, {"health_interval", bal.HealthInterval}, {"health_timeout", bal.HealthTimeout},
		{"dial_timeout", bal.DialTimeout}, {"response_header_timeout", bal.ResponseHeaderTimeout}, {"idle_timeout", bal.IdleTimeout},
	} {
		if msg := durationOutOfRange(d.name, d.v); msg != "" {
			return errorf(bal.Pos, "balancer %s: %s", bal.Name, msg)
		}
	}
	if len(bal.Members) == 0 && bal.DiscoverService == "" {
		return errorf(bal.Pos, "reverse_proxy: no members (add to, backend or discover cluster)")
	}
	if !slices.Contains(lbPolicies, bal.LBPolicy) {
		return errorf(bal.Pos, "balancer %s: unknown lb_policy %q", bal.Name, bal.LBPolicy)
	}
	switch bal.Sticky.Mode {
	case "jvmroute", "learn", "cookie", "off":
	default:
		return errorf(bal.Pos, "balancer %s: unknown sticky mode %q", bal.Name, bal.Sticky.Mode)
	}
	names := map[string]int{}
	for i := range bal.Members {
		m := &bal.Members[i]
		mp := m.Pos
		if mp == (Pos{}) {
			mp = bal.Pos
		}
		if m.Weight == 0 {
			m.Weight = 1
		}
		if m.State == "" {
			m.State = "active"
		}
		if !validName(m.Name) {
			return errorf(mp, "balancer %s: bad member name %q", bal.Name, m.Name)
		}
		if u, msg := parseMemberURL(m.URL); msg != "" {
			return errorf(mp, "member %s: %s", m.Name, msg)
		} else {
			m.URL = u
		}
		if !slices.Contains(memberStates, m.State) {
			return errorf(mp, "member %s: unknown state %q (want %s)", m.Name, m.State, orList(memberStates))
		}
		if m.Weight < 0 {
			return errorf(mp, "member %s: negative weight %d", m.Name, m.Weight)
		}
		if j, dup := names[m.Name]; dup {
			return errorf(mp, "member name %q is used twice in balancer %s (first at %s)", m.Name, bal.Name, bal.Members[j].Pos)
		}
		names[m.Name] = i
	}
	for i, m := range bal.Members {
		if m.Redirect == "" {
			continue
		}
		rp, ok := redirects[i]
		if !ok {
			rp = m.Pos
		}
		if m.Redirect == m.Name {
			return errorf(rp, "redirect: member %s redirects to itself", m.Name)
		}
		if _, ok := names[m.Redirect]; !ok {
			return errorf(rp, "redirect: no member %q in balancer %s", m.Redirect, bal.Name)
		}
	}
	return nil
}

// lbPolicy parses lb_policy: Tether's policies, and Caddy's spellings of
// the same (least_conn is least_busy; cookie [NAME] is sticky cookie
// NAME, Caddy's default name "lb").
func lbPolicy(d *node, bal *Balancer, stickyCookie **token, stickySet bool) error {
	if err := d.argc(1, 2); err != nil {
		return err
	}
	if err := d.noBlock(); err != nil {
		return err
	}
	p := d.arg(0)
	switch p.text {
	case "least_conn":
		bal.LBPolicy = "least_busy"
	case "cookie":
		if stickySet {
			return errorf(p.pos, "lb_policy cookie: the balancer already has sticky %s", bal.Sticky.Mode)
		}
		bal.Sticky.Mode, bal.Sticky.Cookie = "cookie", "lb"
		if d.nargs() == 2 {
			name, err := nonEmpty(d, d.arg(1))
			if err != nil {
				return err
			}
			bal.Sticky.Cookie = name
			*stickyCookie = &d.args[2]
		}
		return nil
	case "first", "header", "uri_hash", "client_ip_hash", "weighted_round_robin", "query":
		return errorf(p.pos, "lb_policy %s: Caddy's policy is not built yet (want round_robin, least_requests, least_busy or least_conn, p2c, random, ip_hash or cookie)", p.text)
	default:
		v, err := oneOf(d, p, "policy", lbPolicies)
		if err != nil {
			return err
		}
		bal.LBPolicy = v
	}
	if d.nargs() == 2 {
		return errorf(d.arg(1).pos, "lb_policy %s: unexpected argument %q", p.text, d.arg(1).text)
	}
	return nil
}

// healthStatus is health_status's code: "2xx" style classes or one
// three-digit status.
func healthStatus(d *node, t token) (string, error) {
	s := strings.ToLower(t.text)
	if len(s) == 3 && s[0] >= '1' && s[0] <= '5' && (s[1:] == "xx" || s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9') {
		return s, nil
	}
	return "", errorf(t.pos, "health_status: %q: want a status such as 200 or a class such as 2xx", t.text)
}
