package config

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// jkMethods maps mod_jk's lb method (its first letter, as mod_jk reads it)
// to a Tether lb_policy, with a note when the match is not exact.
var jkMethods = map[byte]struct{ policy, note string }{
	'R': {"least_requests", ""},
	'B': {"least_busy", ""},
	'T': {"least_requests", "balancing by traffic (bytes) is not supported; least_requests is the closest"},
	'S': {"least_requests", "balancing by new sessions is not supported; least_requests (which counts every request) is the closest"},
	'N': {"round_robin", "Next is not supported; round_robin is the closest"},
}

// lbBalancer maps an lb worker and its members.
func (l *jkLoader) lbBalancer(w *jkWorker) (*Balancer, error) {
	w.imported = true
	bal := DefaultBalancer()
	bal.Name = w.name
	bal.Pos = w.pos
	if p := w.attrs["type"]; p != nil {
		bal.Pos = p.pos
	}
	w.used["balance_workers"] = true
	items := splitLists(w.lists["balance_workers"], w.attrs["balance_workers"])
	if old := splitLists(w.lists["balanced_workers"], w.attrs["balanced_workers"]); len(old) > 0 {
		w.used["balanced_workers"] = true
		if len(items) == 0 {
			l.warn(w.attrs["balanced_workers"].pos, "worker.%s.balanced_workers is deprecated in mod_jk; honoured as balance_workers", w.name)
			items = old
		} else {
			l.warn(w.attrs["balanced_workers"].pos, "worker.%s.balanced_workers is deprecated and not used: mod_jk reads it only without balance_workers", w.name)
		}
	}
	if len(items) == 0 {
		return nil, errorf(bal.Pos, "lb worker %s has no balance_workers", w.name)
	}
	var jms []*jkMember
	byWorker := map[string]Pos{}
	for _, it := range items {
		if prev, dup := byWorker[it.text]; dup {
			return nil, errorf(it.pos, "worker.%s.balance_workers: %s is listed twice (first at %s)", w.name, it.text, prev)
		}
		byWorker[it.text] = it.pos
		if it.text == w.name {
			return nil, errorf(it.pos, "worker.%s.balance_workers: an lb worker cannot balance itself", w.name)
		}
		jm, err := l.member(l.worker(it.text, it.pos), w, it.pos)
		if err != nil {
			return nil, err
		}
		if jm != nil { // nil: an ajp12 worker, warned about
			jms = append(jms, jm)
		}
	}
	if len(jms) == 0 {
		l.warn(bal.Pos, "lb worker %s has no member Tether can reach (only ajp12 workers); not imported, its paths are not proxied", w.name)
		return nil, nil
	}

	// redirect names a route (mod_jk compares it with the members' routes).
	for _, jm := range jms {
		r := jm.m.Redirect
		if r == "" || slices.ContainsFunc(jms, func(o *jkMember) bool { return o.m.Name == r }) {
			continue
		}
		p := jm.w.attrs["redirect"]
		if i := slices.IndexFunc(jms, func(o *jkMember) bool { return o.w.name == r }); i >= 0 {
			l.warn(p.valPos, "%s=%s names a worker, but mod_jk compares redirect with routes; using its route %s", p.key, r, jms[i].m.Name)
			jm.m.Redirect = jms[i].m.Name
			continue
		}
		l.warn(p.valPos, "%s=%s matches no route of lb worker %s; no preferred failover member (mod_jk would find none either)", p.key, r, w.name)
		jm.m.Redirect = ""
	}
	if jm := jms[0]; jm.m.Redirect == jm.m.Name {
		jm.m.Redirect = ""
	}

	// Stickiness.
	if on, _ := l.boolAttr(w, "sticky_session", true); !on {
		bal.Sticky.Mode = "off"
	}
	bal.Sticky.Force, _ = l.boolAttr(w, "sticky_session_force", false)
	if p := w.attr("session_cookie"); p != nil {
		if p.value == "" {
			return nil, errorf(p.pos, "%s is empty", p.key)
		}
		bal.Sticky.Cookie = p.value
	}
	if p := w.attr("session_path"); p != nil {
		v := strings.TrimSuffix(strings.TrimPrefix(p.value, ";"), "=")
		if v == "" {
			return nil, errorf(p.pos, "%s is empty", p.key)
		}
		bal.Sticky.PathParam = v
	}
	l.notDefault(w, "set_session_cookie", "false", "not supported: Tether does not set a route-only session cookie; use sticky cookie NAME for apps without jvmRoute ids")

	// Balancing method: Request is mod_jk's default.
	bal.LBPolicy = "least_requests"
	if p := w.attr("method"); p != nil {
		m, ok := jkMethods[strings.ToUpper(p.value + " ")[0]]
		switch {
		case !ok:
			l.warn(p.valPos, "%s: unknown method %q (want R, T, B, S or N); least_requests (Request), as mod_jk falls back to it", p.key, p.value)
		case m.note != "":
			l.warn(p.valPos, "%s=%s: %s", p.key, p.value, m.note)
		}
		if ok {
			bal.LBPolicy = m.policy
		}
	}

	// Failover tries: mod_jk makes up to retries rounds over lb_retries
	// members each; Tether tries each other member at most once.
	rounds, rp, err := l.intAttr(w, "retries", 0, 1000)
	if err != nil {
		return nil, err
	}
	if rp == nil || rounds < 1 {
		rounds = 2
	}
	per, pp, err := l.intAttr(w, "lb_retries", 0, 1000)
	if err != nil {
		return nil, err
	}
	if pp == nil || per < 1 {
		per = 2
	}
	bal.Retries = min(rounds*min(per, len(jms)), len(jms), 101) - 1
	l.notDefault(w, "retry_interval", "100", "not supported; Tether retries on another member at once")

	if d, p, err := l.durAttr(w, "recover_time", time.Second); err != nil {
		return nil, err
	} else if p != nil {
		if d > 0 {
			bal.RecoverTime = d
		} else {
			l.warn(p.pos, "%s=0: Tether keeps a failed member out for at least some time; using %s", p.key, bal.RecoverTime)
		}
	}
	l.notDefault(w, "max_reply_timeouts", "0", "not supported; every reply timeout counts as a failure of the member")

	for _, jm := range jms {
		bal.Members = append(bal.Members, jm.m)
	}
	if err := l.applyMembers(bal, jms); err != nil {
		return nil, err
	}
	return bal, nil
}

// splitLists splits the lines of a list attribute; ps is nil when the
// attribute was inherited as a single property.
func splitLists(ps []*jkProp, single *jkProp) []jkItem {
	if ps == nil && single != nil {
		ps = []*jkProp{single}
	}
	var out []jkItem
	for _, p := range ps {
		out = append(out, splitItems(p.value, p.valPos)...)
	}
	return out
}

// directBalancer maps an ajp13 worker mounted directly (JkMount /x ajp13w)
// to a balancer of one member named after the worker.
func (l *jkLoader) directBalancer(w *jkWorker) (*Balancer, error) {
	bal := DefaultBalancer()
	bal.Name = w.name
	bal.Pos = w.pos
	jm, err := l.member(w, nil, w.pos)
	if err != nil || jm == nil {
		return nil, err
	}
	bal.Members = []Member{jm.m}
	bal.Retries = 0 // mod_jk retries the same worker on a new connection; there is no other member
	if err := l.applyMembers(bal, []*jkMember{jm}); err != nil {
		return nil, err
	}
	return bal, nil
}

// applyMembers sets the balancer-wide settings that mod_jk keeps per member:
// the secret and packet size must agree; timeouts that differ take the
// largest (with a warning), fail_on_status the union.
func (l *jkLoader) applyMembers(bal *Balancer, jms []*jkMember) error {
	first := jms[0]
	for _, jm := range jms[1:] {
		switch {
		case (jm.secret == nil) != (first.secret == nil) || jm.secret != nil && jm.secret.value != first.secret.value:
			at := bal.Pos
			if jm.secret != nil {
				at = jm.secret.pos
			} else if first.secret != nil {
				at = first.secret.pos
			}
			return errorf(at, "the members of %s have different AJP secrets (%s and %s); Tether has one ajp_secret per balancer", bal.Name, first.w.name, jm.w.name)
		case jm.packet != first.packet:
			at := bal.Pos
			if jm.packetAt != nil {
				at = jm.packetAt.pos
			} else if first.packetAt != nil {
				at = first.packetAt.pos
			}
			return errorf(at, "the members of %s have different max_packet_size (%s and %s); Tether has one ajp_packet_size per balancer", bal.Name, first.w.name, jm.w.name)
		}
	}
	if first.secret != nil {
		bal.AJPSecret = first.secret.value
	}
	if first.packet != 0 {
		bal.AJPPacketSize = first.packet
	}
	merge := func(get func(*jkMember) jkDur, dst *time.Duration, pick func(a, b time.Duration) time.Duration) {
		var got jkDur
		var unset []string
		differ := false
		for _, jm := range jms {
			d := get(jm)
			switch {
			case !d.set():
				unset = append(unset, jm.w.name)
			case !got.set():
				got = d
			case d.d != got.d:
				differ = true
				got.d = pick(got.d, d.d)
			}
		}
		if !got.set() {
			return
		}
		*dst = got.d
		switch {
		case differ:
			l.warn(got.at, "%s: the members of %s set different values; Tether has one per balancer and uses %s", got.key, bal.Name, got.d)
		case len(unset) > 0:
			l.warn(got.at, "%s: set for some members of %s but not for %s; Tether has one per balancer and uses %s for all", got.key, bal.Name, strings.Join(unset, ", "), got.d)
		}
	}
	longer := func(a, b time.Duration) time.Duration { return max(a, b) }
	shorter := func(a, b time.Duration) time.Duration { return min(a, b) }
	merge(func(jm *jkMember) jkDur { return jm.dial }, &bal.DialTimeout, longer)
	merge(func(jm *jkMember) jkDur { return jm.reply }, &bal.ResponseHeaderTimeout, longer)
	merge(func(jm *jkMember) jkDur { return jm.idle }, &bal.IdleTimeout, shorter)

	var pinging, silent []string
	for _, jm := range jms {
		if jm.ping {
			pinging = append(pinging, jm.w.name)
		} else {
			silent = append(silent, jm.w.name)
		}
	}
	if len(pinging) > 0 {
		bal.AJPPing = true
		if len(silent) > 0 {
			at := jms[slices.IndexFunc(jms, func(jm *jkMember) bool { return jm.ping })].pingAt
			l.warn(at, "CPing probes are set for %s but not for %s; Tether probes every member of %s", strings.Join(pinging, ", "), strings.Join(silent, ", "), bal.Name)
		}
		merge(func(jm *jkMember) jkDur { return jm.pingTO }, &bal.HealthTimeout, longer)
		merge(func(jm *jkMember) jkDur { return jm.pingIvl }, &bal.HealthInterval, shorter)
	}

	var union []int
	var at *jkProp
	differ := false
	for i, jm := range jms {
		for _, c := range jm.failOn {
			if !slices.Contains(union, c) {
				union = append(union, c)
			}
		}
		if jm.failAt != nil && at == nil {
			at = jm.failAt
		}
		if i > 0 && !slices.Equal(jm.failOn, first.failOn) {
			differ = true
		}
	}
	bal.FailOnStatus = union
	if differ && at != nil {
		l.warn(at.pos, "fail_on_status: the members of %s set different statuses; Tether has one list per balancer and uses all of them (%s)", bal.Name, intsString(union))
	}
	return nil
}

func intsString(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

// jkAttrs are the attributes mod_jk knows, by the worker types they apply
// to: a = ajp13 (and lb members), l = lb, s = status. Attributes a worker
// sets that the mapping did not use get a warning: jkNotes says why, or the
// attribute belongs to another worker type, or it is unknown.
var jkAttrs = func() map[string]string {
	m := map[string]string{}
	for kinds, names := range map[string]string{
		"als": "type reference mount",
		"al":  "retries retry_interval secret",
		"a": "host port source prefer_ipv6 socket_timeout socket_connect_timeout socket_keepalive " +
			"ping_mode ping_timeout connect_timeout prepost_timeout connection_ping_interval reply_timeout " +
			"recovery_options fail_on_status busy_limit max_packet_size connection_pool_size " +
			"connection_pool_minsize connection_pool_timeout connection_acquire_timeout " +
			"lbfactor route domain redirect distance activation " +
			"cachesize cache_timeout recycle_timeout disabled stopped jvm_route",
		"l": "balance_workers balanced_workers sticky_session sticky_session_force session_cookie " +
			"session_path set_session_cookie session_cookie_path method lock lb_retries recover_time " +
			"error_escalation_time max_reply_timeouts",
		"s": "read_only user user_case_insensitive good bad css prefix ns xmlns doctype",
		// Accepted by mod_jk 1.2.48's reader but used by no worker type it
		// has: the JNI worker's (removed), ajp14's login key, and the
		// globals written per worker.
		"": "sysprops stderr stdout mx ms class_path bridge jvm_lib ld_path cmd_line native_lib secretkey " +
			"local_worker local_worker_only list maintain socket_buffer",
	} {
		for n := range strings.FieldsSeq(names) {
			m[n] = kinds
		}
	}
	return m
}()

// jkMemberOnly are the ajp13 attributes that only matter inside an lb.
var jkMemberOnly = []string{"lbfactor", "route", "domain", "redirect", "distance", "activation", "disabled", "stopped", "jvm_route"}

// jkNotes say why an attribute is not honoured.
var jkNotes = map[string]string{
	"source":                     "not supported; Tether lets the OS choose the source address",
	"connection_pool_minsize":    "not supported; Tether opens connections on demand and keeps up to max_idle_conns idle",
	"connection_acquire_timeout": "not mapped; a request waiting for a member at its max_conns waits up to the balancer's queue_timeout",
	"lock":                       "not needed: Tether keeps load counters in process, with atomics",
	"error_escalation_time":      "not supported; a member fails at its first connect error or failed status (max_fails 1)",
	"session_cookie_path":        "not used: set_session_cookie is not supported",
	"cachesize":                  "deprecated in mod_jk and not supported (connection_pool_size)",
	"cache_timeout":              "deprecated in mod_jk; use connection_pool_timeout",
	"recycle_timeout":            "deprecated in mod_jk; use connection_pool_timeout",
	"mount":                      "not used: mount maps only workers in worker.list",
	"socket_buffer":              "not supported; Tether leaves socket buffer sizes to the OS (mod_jk sets SO_SNDBUF and SO_RCVBUF)",
	"secretkey":                  "an ajp14 login key; mod_jk 1.2.48 reads it only for ajp14 workers, Tether speaks AJP13 and ignores it",
	"local_worker":               "deprecated in mod_jk, which reads and ignores it; ignored",
	"local_worker_only":          "deprecated in mod_jk, which reads and ignores it; ignored",
	"list":                       "mod_jk accepts it and ignores it (the worker list is the global worker.list); ignored",
	"maintain":                   "mod_jk accepts it and ignores it (the maintenance interval is the global worker.maintain); ignored",
}

func init() {
	for n := range strings.FieldsSeq("sysprops stderr stdout mx ms class_path bridge jvm_lib ld_path cmd_line native_lib") {
		jkNotes[n] = "an attribute of mod_jk's JNI worker, which is gone: mod_jk 1.2.48 accepts it and ignores it, so does Tether"
	}
}

// unused warns about every attribute of an imported worker that the
// mapping did not use, so nothing is ignored silently.
func (l *jkLoader) unused() {
	for _, name := range sortedKeys(l.workers) {
		w := l.workers[name]
		if !w.imported {
			continue // a template, or a worker nothing uses: no effect in mod_jk either
		}
		t := w.typ()
		for _, d := range sortedKeys(w.attrs) {
			if w.used[d] {
				continue
			}
			p := w.attrs[d]
			kinds, known := jkAttrs[d]
			switch {
			case !jkSupportedProps[d]:
				// Warned where it was read: mod_jk refuses the file.
			case jkNotes[d] != "":
				l.warn(p.pos, "%s: %s", p.key, jkNotes[d])
			case !known:
				l.warn(p.pos, "%s: accepted by mod_jk 1.2.48 but not used by it; ignored", p.key)
			case t == "ajp13" && slices.Contains(jkMemberOnly, d):
				l.warn(p.pos, "%s: has no effect: worker %s is not a member of an imported lb worker (as in mod_jk)", p.key, w.name)
			default:
				l.warn(p.pos, "%s: has no effect on a worker of type %s (it is for %s workers); mod_jk ignores it there too", p.key, t, kindNames(kinds))
			}
		}
	}
}

func kindNames(k string) string {
	var s []string
	for _, c := range k {
		s = append(s, map[rune]string{'a': "ajp13", 'l': "lb", 's': "status"}[c])
	}
	return orList(s)
}
