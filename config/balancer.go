package config

import (
	"slices"
	"strconv"
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
	"lb_retries", "fail_duration", "health_path", "health_status", "health_port", "lb_try_duration",
	"header_up", "header_down", "transport",
	"client_cert_headers", "flush_interval", "unhealthy_status",
	"handle_response", "replace_status", "@name",
	// issue 15: retry budget, outlier ejection, richer active checks
	// (resilience.go; lb_try_duration is in the list above).
	"retry_budget", "lb_try_interval", "outlier", "health_body", "health_headers", "health_method",
	// Protecting the members (protect.go): max_conns and its queue, slow_start.
	"max_conns", "max_queue", "queue_timeout", "slow_start", "max_requests", "unhealthy_request_count",
}

// caddyAliases are Caddy's names of reverse_proxy options that Tether
// spells otherwise: the same option, so setting both is an error.
var caddyAliases = map[string]string{
	"lb_retries":       "retries",
	"fail_duration":    "recover_time",
	"health_path":      "health_uri",
	"unhealthy_status": "fail_on_status",
	// Protecting the members (protect.go).
	"max_requests":            "max_conns",
	"unhealthy_request_count": "max_conns",
}

// caddyProxyIgnored are Caddy's reverse_proxy options Tether accepts and
// does not honour (tuning that has no counterpart), each with why.
var caddyProxyIgnored = map[string]string{
	"stream_timeout":          "streams (WebSocket, SSE) last as long as both sides keep them open",
	"stream_close_delay":      "streams are closed with the config that opened them",
	"buffer_requests":         "request bodies stream to the member",
	"buffer_responses":        "answers stream to the client",
	"request_buffers":         "request bodies stream to the member",
	"response_buffers":        "answers stream to the client",
	"max_buffer_size":         "nothing is buffered",
	"unhealthy_latency":       "a slow answer does not count against a member; response_header_timeout bounds the wait",
	"health_follow_redirects": "an active check's redirect counts as its status (3xx passes unless health_status says otherwise)",
}

// caddyProxyUnsupported are Caddy's reverse_proxy options Tether refuses,
// with what to write instead.
var caddyProxyUnsupported = map[string]string{
	"copy_response":         "copy_response belongs in a handle_response block",
	"copy_response_headers": "copy_response_headers belongs in a handle_response block",
	"dynamic":               "dynamic upstreams are not supported; see discover cluster",
	"health_request_body":   "health_request_body is not supported",
	"health_upstream":       "health_upstream is not supported: active checks go to the member",
	"lb_retry_match":        "lb_retry_match is not supported: Tether retries requests that never reached a member, and idempotent ones without a body",
	"method":                "method (changing the method sent) is not supported",
	"rewrite":               "rewrite inside reverse_proxy is not supported; write rewrite before it",
	"trusted_proxies":       "trusted_proxies belongs in the site block in Tether (it applies to every balancer of the site)",
}

// reverseProxy parses "reverse_proxy [PATTERNS...] [MEMBERS...] [{ ... }]";
// defaultName is its name unless it sets one. sc and s are the scope and
// site of the block it is in, for its handle_response routes.
func (b *builder) reverseProxy(n *node, defaultName string, sc *scope, s *Site) (*Balancer, error) {
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
	forms := map[int]memberForm{} // member index → how its URL was written
	for i, t := range n.args[1:] {
		if !strings.HasPrefix(t.text, "!") && !strings.HasPrefix(t.text, "/") && !strings.HasPrefix(t.text, "*") && !strings.HasPrefix(t.text, "@") {
			forms[len(forms)] = formOf(n.args[1+i].text)
		}
	}
	respMatchers, err := responseMatchers(n.block)
	if err != nil {
		return nil, err
	}
	var transportOpts []token
	seen := map[string]Pos{}
	var stickyCookie *token // a cookie named by "sticky learn|cookie NAME"
	var weights []token     // lb_policy weighted_round_robin's
	var cookieDirective *node
	for _, d := range n.block {
		name := d.name()
		if canon, ok := caddyAliases[name]; ok {
			name = canon
		}
		if strings.HasPrefix(name, "@") {
			continue // a response matcher (responseMatchers)
		}
		if name != "to" && name != "backend" && name != "header_up" && name != "header_down" && name != "handle_response" && name != "replace_status" {
			key, shown := name, d.name()
			if name == "discover" && d.nargs() > 0 {
				key = "discover " + d.arg(0).text // discover cluster and discover ec2 go together
				shown = key
			}
			if prev, dup := seen[key]; dup {
				return nil, errorf(d.args[0].pos, "%s is set twice (first at %s)", shown, prev)
			}
			seen[key] = d.args[0].pos
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
					forms[len(bal.Members)] = formOf(t.text)
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
				f := formOf(d.arg(1).text)
				f.named = true
				forms[len(bal.Members)] = f
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
			if d.nargs() > 0 && d.arg(0).text == "ec2" {
				bal.DiscoverEC2, err = balancerEC2(d)
				break
			}
			if err = d.simple(2); err == nil {
				switch {
				case d.arg(0).text != "cluster":
					err = errorf(d.arg(0).pos, "discover: want cluster SERVICE or ec2 { ... }, got %q", d.arg(0).text)
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
			err = lbPolicy(d, bal, &stickyCookie, stickySet, &weights)
		case "flush_interval":
			err = flushInterval(d, bal)
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
				if d.name() == "unhealthy_status" && len(t.text) == 3 && strings.HasSuffix(strings.ToLower(t.text), "xx") && t.text[0] >= '1' && t.text[0] <= '5' {
					// Caddy's class: every status of it.
					for c := int(t.text[0]-'0') * 100; c < int(t.text[0]-'0')*100+100; c++ {
						bal.FailOnStatus = append(bal.FailOnStatus, c)
					}
					continue
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
		case "health_port":
			if err = d.simple(1); err == nil {
				bal.HealthPort, err = intArg(d, d.arg(0), 1, 65535)
			}
		case "health_status":
			if err = d.argc(1, -1); err == nil {
				err = d.noBlock()
			}
			for _, t := range d.args[1:] {
				if err != nil {
					break
				}
				var code string
				if code, err = healthStatus(d, t); err == nil {
					bal.HealthStatus = append(bal.HealthStatus, code)
				}
			}
		// issue 15 (resilience.go): retry budget, try duration, outlier
		// ejection, richer active checks.
		case "retry_budget", "lb_try_duration", "lb_try_interval", "outlier", "health_body", "health_headers", "health_method":
			err = b.resilienceOption(d, bal)
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
		case "transport":
			transportOpts, err = b.transport(d, bal, seen)
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
		case "handle_response", "replace_status":
			var h *ResponseHandler
			if h, err = b.responseHandler(d, respMatchers, sc, s); err == nil {
				bal.HandleResponse = append(bal.HandleResponse, h)
			}
		case "client_cert_headers":
			if err = d.argc(0, 1); err == nil {
				err = d.noBlock()
			}
			bal.ClientCertHeaders = "apache"
			if err == nil && d.nargs() == 1 {
				bal.ClientCertHeaders, err = oneOf(d, d.arg(0), "style", []string{"apache"})
			}
		default:
			if ok, perr := protectOption(d, name, bal); ok {
				err = perr // protect.go
				break
			}
			if why, ok := caddyProxyIgnored[d.name()]; ok {
				b.warn(d.args[0].pos, d.name()+" is not honoured: "+why)
				break
			}
			if msg, ok := caddyProxyUnsupported[d.name()]; ok {
				err = errorf(d.args[0].pos, "%s", msg)
				break
			}
			err = unknown(d, "reverse_proxy option", reverseProxyOptions, nil, "")
		}
		if err != nil {
			return nil, err
		}
	}
	if bal.HealthPort != 0 && bal.HealthURI == "" {
		bal.HealthURI = "/" // Caddy: health_port alone enables active checks
	}
	_, retriesSet := seen["retries"]
	if err := checkResilience(bal, retriesSet, seen); err != nil { // issue 15
		return nil, err
	}
	if weights != nil {
		if bal.DiscoverService != "" {
			return nil, errorf(weights[0].pos, "lb_policy weighted_round_robin: not with discover cluster (members come and go); give members a weight")
		}
		if err := applyWeights(bal, weights); err != nil {
			return nil, err
		}
	}
	if stickyCookie != nil && cookieDirective != nil {
		return nil, errorf(cookieDirective.args[0].pos, "sticky_cookie: the cookie is already named by sticky at %s", stickyCookie.pos)
	}
	if err := applyTransport(bal, forms, transportOpts); err != nil {
		return nil, err
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

// sticky parses "sticky jvmroute|off", "sticky learn COOKIE" and
// "sticky cookie NAME [{ max_age D; domain D; secure [on|off]; samesite S }]".
func sticky(d *node, st *Sticky, named **token) error {
	if err := d.argc(1, 2); err != nil {
		return err
	}
	mode := d.arg(0)
	if mode.text == "cookie" {
		seen := map[string]Pos{}
		for _, s := range d.block {
			if err := once(seen, s); err != nil {
				return err
			}
			if err := cookieOption(s, st); err != nil {
				return err
			}
		}
	} else if err := d.noBlock(); err != nil {
		return err
	}
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

// backend parses "backend NAME URL [{ weight N; domain D; redirect M; state S; max_conns N }]"
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
		case "max_conns":
			err = memberMaxConns(s, &m) // protect.go
		default:
			err = unknown(s, "backend option", []string{"weight", "domain", "redirect", "state", "max_conns"}, nil, "")
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
	if len(bal.Members) == 0 && bal.DiscoverService == "" && bal.DiscoverEC2 == nil {
		return errorf(bal.Pos, "reverse_proxy: no members (add to, backend, discover cluster or discover ec2)")
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
	return checkProtect(bal) // protect.go
}

// lbPolicy parses lb_policy: Tether's policies, and Caddy's spellings of
// the same or of its own:
//
//	lb_policy round_robin|least_requests|least_busy|p2c|random|ip_hash|first|uri_hash
//	lb_policy least_conn                      (least_busy)
//	lb_policy client_ip_hash                  (ip_hash: the client address, behind trusted_proxies too)
//	lb_policy weighted_round_robin W...       (round_robin, W the members' weights in order; 0 disables one)
//	lb_policy random_choose N                 (the least busy of N random members; p2c is N=2)
//	lb_policy header FIELD [{ fallback P }]   (a hash of the field's value)
//	lb_policy query NAME [{ fallback P }]     (a hash of the parameter's values)
//	lb_policy cookie [NAME [SECRET]] [{ fallback P; max_age D; domain D; secure [on|off]; samesite S }]
//	                                          (sticky cookie NAME, default name "lb"; fallback is the lb_policy)
//
// weights receives weighted_round_robin's, for the caller to set once
// every member is known.
func lbPolicy(d *node, bal *Balancer, stickyCookie **token, stickySet bool, weights *[]token) error {
	if err := d.argc(1, -1); err != nil {
		return err
	}
	p := d.arg(0)
	args := d.args[2:]
	maxArgs := func(k int) error {
		if len(args) > k {
			return errorf(args[k].pos, "lb_policy %s: unexpected argument %q", p.text, args[k].text)
		}
		return nil
	}
	if p.text != "cookie" && p.text != "header" && p.text != "query" {
		if err := d.noBlock(); err != nil {
			return err
		}
	}
	switch p.text {
	case "least_conn":
		bal.LBPolicy = "least_busy"
	case "client_ip_hash":
		bal.LBPolicy = "ip_hash"
	case "weighted_round_robin":
		if len(args) == 0 {
			return errorf(p.pos, "lb_policy weighted_round_robin: want one weight per member, in order")
		}
		bal.LBPolicy = "round_robin"
		*weights = args
		return nil
	case "random_choose":
		if len(args) != 1 {
			return errorf(p.pos, "lb_policy random_choose: want the number of members to draw (2 or more)")
		}
		n, err := intArg(d, args[0], 2, 64)
		if err != nil {
			return err
		}
		bal.LBPolicy, bal.LBChoose = "random_choose", n
		return nil
	case "header", "query":
		if len(args) == 0 {
			what := "a header field"
			if p.text == "query" {
				what = "a query parameter"
			}
			return errorf(p.pos, "lb_policy %s: want %s whose value is hashed", p.text, what)
		}
		if err := maxArgs(1); err != nil {
			return err
		}
		bal.LBPolicy, bal.LBKey, bal.LBFallback = p.text, args[0].text, "random"
		if p.text == "header" {
			bal.LBKey = canonicalHeader(bal.LBKey)
		}
		return policyBlock(d, bal, nil)
	case "cookie":
		if stickySet {
			return errorf(p.pos, "lb_policy cookie: the balancer already has sticky %s", bal.Sticky.Mode)
		}
		if err := maxArgs(2); err != nil {
			return err
		}
		bal.Sticky.Mode, bal.Sticky.Cookie = "cookie", "lb"
		if len(args) >= 1 {
			name, err := nonEmpty(d, args[0])
			if err != nil {
				return err
			}
			bal.Sticky.Cookie = name
			*stickyCookie = &args[0]
		}
		if len(args) == 2 {
			secret, err := nonEmpty(d, args[1])
			if err != nil {
				return err
			}
			bal.Sticky.Secret = secret
		}
		return policyBlock(d, bal, &bal.Sticky)
	default:
		v, err := oneOf(d, p, "policy", append(slices.Clone(lbPolicies), "least_conn", "client_ip_hash", "weighted_round_robin", "cookie"))
		if err != nil {
			return err
		}
		bal.LBPolicy = v
	}
	return maxArgs(0)
}

// policyBlock parses the block of lb_policy header, query or cookie:
// fallback, and for cookie (st set) the cookie's attributes.
func policyBlock(d *node, bal *Balancer, st *Sticky) error {
	known := []string{"fallback"}
	if st != nil {
		known = append(known, cookieOptions...)
	}
	seen := map[string]Pos{}
	for _, s := range d.block {
		if err := once(seen, s); err != nil {
			return err
		}
		if s.name() != "fallback" {
			if st == nil {
				return unknown(s, "lb_policy "+d.arg(0).text+" option", known, nil, "")
			}
			if err := cookieOption(s, st); err != nil {
				return err
			}
			continue
		}
		if err := s.simple(1); err != nil {
			return err
		}
		fb, err := oneOf(s, s.arg(0), "fallback policy", keylessPolicies)
		if err != nil {
			return err
		}
		switch fb {
		case "least_conn":
			fb = "least_busy"
		case "client_ip_hash":
			fb = "ip_hash"
		}
		if st != nil {
			bal.LBPolicy = fb // Tether's sticky cookie balances new clients by the lb_policy
		} else {
			bal.LBFallback = fb
		}
	}
	return nil
}

// cookieOptions are the affinity cookie's attributes, in a sticky cookie
// or lb_policy cookie block.
var cookieOptions = []string{"max_age", "domain", "secure", "samesite"}

// cookieOption parses one of cookieOptions into st.
func cookieOption(s *node, st *Sticky) error {
	switch s.name() {
	case "max_age":
		if err := s.simple(1); err != nil {
			return err
		}
		d, err := ParseDuration(s.arg(0).text)
		if err != nil {
			return errorf(s.arg(0).pos, "max_age: %v", err)
		}
		if d < time.Second || d > 400*24*time.Hour {
			return errorf(s.arg(0).pos, "max_age: %s is out of range 1s..400 days (browsers cap cookies at 400 days)", s.arg(0).text)
		}
		st.MaxAge = d
	case "domain":
		if err := s.simple(1); err != nil {
			return err
		}
		dom := strings.TrimPrefix(strings.ToLower(s.arg(0).text), ".")
		if dom == "" || strings.ContainsAny(dom, " ;,/:\\\"=") || strings.HasPrefix(dom, ".") || strings.HasSuffix(dom, ".") {
			return errorf(s.arg(0).pos, "domain: %q is not a domain name", s.arg(0).text)
		}
		st.Domain = dom
	case "secure":
		if err := s.argc(0, 1); err != nil {
			return err
		}
		if err := s.noBlock(); err != nil {
			return err
		}
		st.Secure = "on"
		if s.nargs() == 1 {
			v, err := oneOf(s, s.arg(0), "value", []string{"on", "off"})
			if err != nil {
				return err
			}
			st.Secure = v
		}
	case "samesite":
		if err := s.simple(1); err != nil {
			return err
		}
		v, err := oneOf(s, token{text: strings.ToLower(s.arg(0).text), pos: s.arg(0).pos}, "value", []string{"lax", "strict", "none"})
		if err != nil {
			return err
		}
		st.SameSite = v
	default:
		return unknown(s, "cookie option", cookieOptions, nil, "")
	}
	if st.SameSite == "none" && st.Secure == "off" {
		return errorf(s.args[0].pos, "samesite none: browsers drop such a cookie without Secure, and secure is off")
	}
	return nil
}

// canonicalHeader is the canonical form of a header field name.
func canonicalHeader(s string) string {
	b := []byte(s)
	upper := true
	for i, c := range b {
		if upper && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		} else if !upper && c >= 'A' && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

// applyWeights sets weighted_round_robin's weights on the members, in
// order: one per member; 0 takes a member out of balancing (disabled:
// only its existing sessions reach it).
func applyWeights(bal *Balancer, weights []token) error {
	if len(weights) != len(bal.Members) {
		at := weights[0].pos
		if len(weights) > len(bal.Members) {
			at = weights[len(bal.Members)].pos
		}
		return errorf(at, "lb_policy weighted_round_robin: %d weight(s) for %d member(s); want one per member, in order", len(weights), len(bal.Members))
	}
	positive := false
	for i, t := range weights {
		w, err := strconv.Atoi(t.text)
		if err != nil || w < 0 || w > 1_000_000 {
			return errorf(t.pos, "lb_policy weighted_round_robin: weight %q: want a whole number 0..1000000", t.text)
		}
		m := &bal.Members[i]
		if w == 0 {
			if m.State == "active" {
				m.State = "disabled"
			}
			continue
		}
		m.Weight, positive = w, true
	}
	if !positive {
		return errorf(weights[0].pos, "lb_policy weighted_round_robin: want at least one weight above 0")
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

// flushInterval parses Caddy's "flush_interval D|-1".
func flushInterval(d *node, bal *Balancer) error {
	if err := d.simple(1); err != nil {
		return err
	}
	t := d.arg(0)
	if strings.HasPrefix(t.text, "-") {
		if _, err := ParseDuration(t.text[1:]); err != nil && t.text != "-1" {
			return errorf(t.pos, "flush_interval: %q: want a duration, or -1 to flush after every write", t.text)
		}
		bal.FlushInterval = -1
		return nil
	}
	v, err := ParseDuration(t.text)
	if err != nil {
		return errorf(t.pos, "flush_interval: %v", err)
	}
	if v != 0 && (v < time.Millisecond || v > time.Minute) {
		return errorf(t.pos, "flush_interval: %s is out of range 1ms..1m (or -1)", t.text)
	}
	bal.FlushInterval = v
	return nil
}
