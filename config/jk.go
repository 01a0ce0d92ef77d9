package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JKImport is what LoadJK makes of a workers.properties and a
// uriworkermap.properties.
type JKImport struct {
	// Balancers are one per mounted lb worker (named after it, members
	// named after their routes) and one single-member balancer per ajp13
	// worker mounted directly, most specific mount first. Member defaults
	// are filled in; Parse still validates them (names, redirects).
	Balancers []*Balancer
	// FileServer serves what no balancer mounts, from ImportJK.DocRoot;
	// nil without a doc_root.
	FileServer *FileServer
	// Warnings name each attribute, rule or pattern that is not honoured
	// exactly, at its file and line.
	Warnings []Warning
}

// LoadJK reads the mod_jk files jk names with o's file system and maps
// them onto balancers. $(name) variables fall back to o.LookupEnv. Errors
// in the files are *Error values naming file:line:col; a file that cannot
// be read is a plain error. LoadJK is what import_jk and "tether
// import-jk" run; see README.md "Moving from mod_jk" for the mapping.
func (o ParseOptions) LoadJK(jk ImportJK) (*JKImport, error) {
	o = o.withDefaults()
	var wsrc []byte
	var err error
	if jk.Workers != "" {
		if wsrc, err = o.ReadFile(jk.Workers); err != nil {
			return nil, fmt.Errorf("read workers file: %w", err)
		}
	}
	var usrc []byte
	if jk.URIWorkers != "" {
		if usrc, err = o.ReadFile(jk.URIWorkers); err != nil {
			return nil, fmt.Errorf("read uriworkermap file: %w", err)
		}
	}
	imp, err := loadJKWith(jk, wsrc, usrc, o.LookupEnv)
	if err != nil {
		return nil, err
	}
	src := jk.Workers
	if src == "" {
		src = "(no workers file)"
	} else if abs, err := filepath.Abs(src); err == nil {
		src = abs
	}
	for _, bal := range imp.Balancers {
		bal.Source = src + "#" + bal.Name
	}
	if jk.DocRoot != "" {
		imp.FileServer = &FileServer{Root: jk.DocRoot, Index: []string{"index.html", "index.htm"}, Pos: jk.Pos}
	}
	return imp, nil
}

// jkWorker is one worker of workers.properties: its attributes after
// reference inheritance, and which of them the mapping used.
type jkWorker struct {
	name  string
	attrs map[string]*jkProp   // directive → last value
	lists map[string][]*jkProp // list directives (balance_workers, mount) → every line
	used  map[string]bool
	pos   Pos // its first line
	refs  int // 0 unresolved, 1 resolving, 2 resolved
	// imported is set when the worker is mapped (mounted, or a member of a
	// mounted lb): only then do its unused attributes get warnings.
	imported bool
}

// attr returns the attribute d and marks it used; nil when unset.
func (w *jkWorker) attr(d string) *jkProp {
	p := w.attrs[d]
	if p != nil {
		w.used[d] = true
	}
	return p
}

func (w *jkWorker) typ() string {
	if p := w.attr("type"); p != nil {
		return p.value
	}
	return "ajp13"
}

// jkLoader maps parsed properties onto balancers.
type jkLoader struct {
	lookupEnv func(string) (string, bool)
	mounts    []JKMount // httpd's JkMount and JkUnMount
	props     *jkProps
	workers   map[string]*jkWorker
	list      []jkItem // worker.list, in order
	warns     []Warning
	warned    map[string]bool // dedupes warnings by text
	// children is import_jk's apache_children (0: httpd's defaults), for
	// connection_pool_size (jkprotect.go).
	children int
}

func (l *jkLoader) warn(at Pos, format string, args ...any) {
	w := Warning{Pos: at, Msg: fmt.Sprintf(format, args...)}
	if k := w.String(); !l.warned[k] {
		l.warned[k] = true
		l.warns = append(l.warns, w)
	}
}

// loadJK is LoadJK on file contents. ufile is "" without a uriworkermap.
func loadJK(wfile string, wsrc []byte, ufile string, usrc []byte, lookupEnv func(string) (string, bool)) (*JKImport, error) {
	return loadJKWith(ImportJK{Workers: wfile, URIWorkers: ufile}, wsrc, usrc, lookupEnv)
}

// loadJKWith is LoadJK on the contents of jk's files, with its mounts and
// properties.
func loadJKWith(jk ImportJK, wsrc, usrc []byte, lookupEnv func(string) (string, bool)) (*JKImport, error) {
	wfile, ufile := jk.Workers, jk.URIWorkers
	l := &jkLoader{workers: map[string]*jkWorker{}, warned: map[string]bool{}, lookupEnv: lookupEnv, mounts: jk.Mounts, children: jk.ApacheChildren}
	var err error
	if l.props, err = parseJKProps(wfile, wsrc, lookupEnv, jkWorkersFile, jk.Properties...); err != nil {
		return nil, err
	}
	for _, w := range l.props.warns {
		l.warn(w.Pos, "%s", w.Msg)
	}
	if err = l.collect(); err != nil {
		return nil, err
	}
	rules, err := l.rules(ufile, usrc)
	if err != nil {
		return nil, err
	}
	bals, err := l.mount(rules, ufile != "" || len(jk.Mounts) > 0)
	if err != nil {
		return nil, err
	}
	l.unused()
	files := []string{wfile, ufile}
	for _, m := range jk.Mounts {
		if !slices.Contains(files, m.Pos.File) {
			files = append(files, m.Pos.File)
		}
	}
	for i := range l.warns {
		if l.warns[i].Pos.File == "" {
			l.warns[i].Pos = jk.Pos // mod_jk's defaults, without a workers file
		}
	}
	slices.SortStableFunc(l.warns, func(a, b Warning) int {
		return cmp.Or(
			cmp.Compare(slices.Index(files, a.Pos.File), slices.Index(files, b.Pos.File)),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return &JKImport{Balancers: bals, Warnings: l.warns}, nil
}

// collect groups worker.<name>.<directive> properties by worker, resolves
// reference= inheritance and reads the globals.
func (l *jkLoader) collect() error {
	for _, key := range l.props.order {
		prop := l.props.props[key]
		rest, ok := strings.CutPrefix(key, "worker.")
		if !ok {
			continue // a variable, for $(name)
		}
		name, d, ok := strings.Cut(rest, ".")
		if !ok {
			switch rest {
			case "list":
				l.list = l.props.listValues(key)
			case "maintain":
				l.warn(prop.pos, "worker.maintain is not needed: Tether checks failed members every 250ms, so they return after recover_time (under mod_jk, up to recover_time + maintain)")
				l.jkInt(prop)
			default:
				if jkSupportedProps[rest] {
					l.warn(prop.pos, "%s is not a worker attribute (worker.NAME.%s); mod_jk accepts it and ignores it, so does Tether", key, rest)
				}
			}
			continue
		}
		if name == "" || strings.ContainsFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) {
			return errorf(prop.pos, "%s: bad worker name %q (mod_jk allows letters, digits, _ and -)", key, name)
		}
		w := l.workers[name]
		if w == nil {
			w = &jkWorker{name: name, attrs: map[string]*jkProp{}, lists: map[string][]*jkProp{}, used: map[string]bool{}, pos: prop.pos}
			l.workers[name] = w
		}
		w.attrs[d] = prop
		if ps := l.props.lists[key]; ps != nil {
			w.lists[d] = ps
		}
	}
	for _, name := range sortedKeys(l.workers) {
		if err := l.resolve(l.workers[name], 0); err != nil {
			return err
		}
	}
	if l.list == nil {
		// mod_jk's default worker.list is the single worker "ajp13".
		l.list = []jkItem{{text: "ajp13", pos: Pos{File: l.props.file, Line: 1, Col: 1}}}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jkMaxReference is mod_jk's JK_MAP_RECURSION: reference chains deeper
// than this are an error (and so catch cycles).
const jkMaxReference = 20

// resolve copies into w the attributes of the worker its reference names
// that w does not set itself, after resolving that worker's own reference.
func (l *jkLoader) resolve(w *jkWorker, depth int) error {
	if w.refs == 2 {
		return nil
	}
	ref := w.attrs["reference"]
	if ref == nil {
		w.refs = 2
		return nil
	}
	if w.refs == 1 || depth > jkMaxReference {
		return errorf(ref.valPos, "worker.%s.reference: references nest deeper than %d (a cycle?)", w.name, jkMaxReference)
	}
	w.refs = 1
	w.used["reference"] = true
	name := strings.TrimPrefix(ref.value, "worker.")
	src := l.workers[name]
	if src == nil {
		return errorf(ref.valPos, "worker.%s.reference: no worker %q in this file", w.name, name)
	}
	if err := l.resolve(src, depth+1); err != nil {
		return err
	}
	for d, p := range src.attrs {
		if d == "reference" {
			continue
		}
		if _, own := w.attrs[d]; !own {
			w.attrs[d] = p
			if ps := src.lists[d]; ps != nil {
				w.lists[d] = ps
			}
		}
	}
	w.refs = 2
	return nil
}

// worker returns the named worker; a worker without any property is
// mod_jk's default, ajp13 at localhost:8009.
func (l *jkLoader) worker(name string, at Pos) *jkWorker {
	w := l.workers[name]
	if w == nil {
		l.warn(at, "worker %s has no properties; like mod_jk, Tether uses an ajp13 worker at localhost:8009", name)
		w = &jkWorker{name: name, attrs: map[string]*jkProp{}, lists: map[string][]*jkProp{}, used: map[string]bool{}, pos: at}
		l.workers[name] = w
	}
	return w
}

// listed reports whether name is in worker.list.
func (l *jkLoader) listed(name string) bool {
	return slices.ContainsFunc(l.list, func(it jkItem) bool { return it.text == name })
}

// intAttr reads attribute d of w as a whole number in min..max; p is nil
// when w does not set it. mod_jk reads numbers with atoi, and a trailing
// k or m multiplies by 1024 or 1024²: a value that is not a plain number
// (a typo, "10s", "1*2" from a repeated key) is read as mod_jk reads it,
// with a warning saying so. Outside min..max is an error.
func (l *jkLoader) intAttr(w *jkWorker, d string, min, max int) (v int, p *jkProp, err error) {
	p = w.attr(d)
	if p == nil {
		return 0, nil, nil
	}
	v = l.jkInt(p)
	if v < min || v > max {
		return 0, p, errorf(p.valPos, "%s: %d is out of range %d..%d", p.key, v, min, max)
	}
	return v, p, nil
}

// jkInt reads p's value as mod_jk's jk_map_get_int does, and warns when
// that is not simply the number written.
func (l *jkLoader) jkInt(p *jkProp) int {
	v, plain := jkAtoi(p.value)
	if !plain {
		l.warn(p.valPos, "%s: %q is not a whole number; mod_jk reads it as %d (atoi), so does Tether", p.key, p.value, v)
	}
	return v
}

// jkAtoi is mod_jk's jk_map_get_int: C atoi of s (leading blanks, a sign,
// digits up to the first non-digit; 0 without digits), times 1024 when s
// ends in k or K, 1024*1024 for m or M. plain reports whether s is just a
// decimal number.
func jkAtoi(s string) (v int, plain bool) {
	mult := 1
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1024
		case 'm', 'M':
			mult = 1024 * 1024
		}
	}
	i := 0
	for i < len(s) && strings.IndexByte(jkSpace, s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<40 {
			n = n*10 + int(s[i]-'0')
		}
	}
	if neg {
		n = -n
	}
	_, err := strconv.Atoi(s)
	return n * mult, err == nil && i > start
}

// durAttr reads attribute d of w, a whole number of unit.
func (l *jkLoader) durAttr(w *jkWorker, d string, unit time.Duration) (time.Duration, *jkProp, error) {
	v, p, err := l.intAttr(w, d, 0, int(24*time.Hour/unit))
	return time.Duration(v) * unit, p, err
}

// boolAttr reads a mod_jk boolean attribute; a value that is not one warns
// and keeps def, as mod_jk does.
func (l *jkLoader) boolAttr(w *jkWorker, d string, def bool) (bool, *jkProp) {
	p := w.attr(d)
	if p == nil {
		return def, nil
	}
	v, ok := jkBool(p.value)
	if !ok {
		l.warn(p.valPos, "%s: %q is not a boolean (0/1, on/off, true/false, yes/no); the default %v applies, as in mod_jk", p.key, p.value, def)
		return def, p
	}
	return v, p
}

// notDefault warns when attribute d of w is set to other than def (as
// text compared after trimming), with why: Tether does not implement it,
// and at its default the behaviour is the same.
func (l *jkLoader) notDefault(w *jkWorker, d, def, why string) {
	p := w.attr(d)
	if p == nil || p.value == def {
		return
	}
	if b, ok := jkBool(p.value); ok && (def == "false" || def == "true") && strconv.FormatBool(b) == def {
		return
	}
	l.warn(p.pos, "%s=%s: %s", p.key, p.value, why)
}

// jkMember is what one lb member (or a directly mounted ajp13 worker)
// contributes: its Member and the settings Tether keeps per balancer.
type jkMember struct {
	m        Member
	w        *jkWorker
	secret   *jkProp
	packet   int
	packetAt *jkProp
	dial     jkDur
	reply    jkDur
	idle     jkDur
	ping     bool
	pingAt   Pos
	pingTO   jkDur
	pingIvl  jkDur
	failOn   []int
	failAt   *jkProp
	// stoppedAt is set when mod_jk would disable the worker's contact (a
	// host it cannot resolve, port 0): the member is imported stopped.
	stoppedAt Pos
}

// jkDur is a duration attribute and where it was set; at.Line == 0 when
// unset.
type jkDur struct {
	d   time.Duration
	at  Pos
	key string
}

func (d jkDur) set() bool { return d.at.Line != 0 }

// member maps an ajp13 worker. lb is the balancer worker it is a member of,
// nil for a worker mounted directly. at is where the worker is named. An
// ajp12 worker gives nil and no error: mod_jk 1.2.48 still accepts it, but
// Tether does not speak AJP12 (nor does Tomcat since 5.5), so it is warned
// about and not routed.
func (l *jkLoader) member(w *jkWorker, lb *jkWorker, at Pos) (*jkMember, error) {
	w.imported = true
	jm := &jkMember{w: w, m: Member{Name: w.name, Weight: 1, State: "active", Pos: at}}
	switch t := w.typ(); t {
	case "ajp13":
	case "ajp14":
		l.warn(w.attrs["type"].pos, "worker.%s.type=ajp14 is obsolete in mod_jk; Tether speaks AJP13 to it", w.name)
	case "ajp12":
		for d := range w.attrs {
			w.used[d] = true
		}
		if lb != nil {
			l.warn(w.attrs["type"].pos, "worker.%s.type=ajp12: mod_jk 1.2.48 balances requests to it over AJP12, which Tether does not speak (nor Tomcat since 5.5); not a member of %s in Tether", w.name, lb.name)
		} else {
			l.warn(w.attrs["type"].pos, "worker.%s.type=ajp12: mod_jk 1.2.48 sends the requests mounted on it over AJP12, which Tether does not speak (nor Tomcat since 5.5); not imported, its paths are not proxied", w.name)
		}
		return nil, nil
	default:
		where := "mounted"
		if lb != nil {
			where = "a member of lb worker " + lb.name
		}
		tp := at
		if p := w.attrs["type"]; p != nil {
			tp = p.valPos
		}
		return nil, errorf(tp, "worker %s is %s but has type %s (want ajp13)", w.name, where, t)
	}

	// Address. mod_jk resolves host when it starts; a host it cannot
	// resolve, or port 0, disables the worker's contact: an lb member is
	// then stopped.
	host, port := "localhost", 8009
	hostAt := at
	hp := w.attr("host")
	if hp != nil {
		host, hostAt = hp.value, hp.valPos
	}
	v, pp, err := l.intAttr(w, "port", 0, 65535)
	if err != nil {
		return nil, err
	}
	if pp != nil {
		port = v
	}
	urlHost, urlPort := host, port
	unresolvable := ""
	switch {
	case strings.HasPrefix(host, "[") || strings.Count(host, ":") == 1:
		// mod_jk's documentation allows host:port, but 1.2.48 hands the
		// whole text to the resolver, which fails (measured).
		unresolvable = "it embeds a port: mod_jk's documentation allows host:port, but mod_jk 1.2.48 hands it whole to the resolver, which fails (\"can't resolve tomcat address\", measured)"
		h, p, err := net.SplitHostPort(host)
		if err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 && n <= 65535 {
				urlHost, urlPort = h, n
			}
		} else {
			urlHost = strings.Trim(host, "[]")
		}
	case strings.HasPrefix(host, "$"):
		unresolvable = "it looks like a shell variable, which mod_jk does not expand (its variables are $(NAME)); mod_jk cannot resolve it (\"can't resolve tomcat address\")"
		urlHost = "invalid"
	case !jkHostName(host):
		unresolvable = "it is neither an IP address nor a host name; mod_jk cannot resolve it (\"can't resolve tomcat address\")"
		urlHost = "invalid"
	}
	u, msg := parseMemberURL("ajp://" + net.JoinHostPort(urlHost, strconv.Itoa(max(urlPort, 1))))
	if msg != "" {
		if unresolvable == "" {
			return nil, errorf(hostAt, "worker %s: host %q: %s", w.name, host, msg)
		}
		u, _ = parseMemberURL("ajp://invalid:" + strconv.Itoa(max(urlPort, 1)))
	}
	jm.m.URL = u
	stopped := ""
	switch {
	case unresolvable != "":
		stopped = fmt.Sprintf("worker.%s.host=%s: %s", w.name, host, unresolvable)
		at := hostAt
		if hp != nil {
			at = hp.pos
		}
		jm.stoppedAt = at
	case port == 0:
		stopped = fmt.Sprintf("worker.%s.port=0: mod_jk 1.2.48 disables the worker's contact", w.name)
		jm.stoppedAt = pp.pos
	}
	if stopped != "" {
		if lb != nil {
			stopped += "; the member is stopped (activation S), so is it in Tether (at " + u + ")"
		} else {
			stopped += "; requests mounted on it fail, so do they in Tether (its one member is stopped, at " + u + ")"
		}
		l.warn(jm.stoppedAt, "%s", stopped)
	}

	// Attributes that only matter inside an lb.
	if lb != nil {
		if err := l.memberOfLB(w, jm); err != nil {
			return nil, err
		}
	}
	if jm.stoppedAt.Line != 0 {
		jm.m.State = "stopped"
	}

	// Secret: the member's own, else the lb's (mod_jk inherits it).
	jm.secret = w.attr("secret")
	if jm.secret == nil && lb != nil {
		jm.secret = lb.attr("secret")
	}
	if jm.secret != nil && jm.secret.value == "" {
		return nil, errorf(jm.secret.pos, "%s is empty", jm.secret.key)
	}

	if v, p, err := l.intAttr(w, "max_packet_size", 1024, 65536); err != nil {
		return nil, err
	} else if p != nil {
		jm.packet, jm.packetAt = v, p
		if v < 8192 {
			l.warn(p.pos, "%s=%d: Tether's smallest AJP packet is 8192 bytes (Tomcat ignores packetSize below 8192 too); using 8192", p.key, v)
			jm.packet = 8192
		} else if v%1024 != 0 {
			jm.packet = (v + 1023) / 1024 * 1024
			l.warn(p.pos, "%s=%d: rounded up to %d, as mod_jk does", p.key, v, jm.packet)
		}
	}

	// Timeouts. socket_timeout (s) is the fallback for both connect and
	// reply, as in mod_jk.
	sock, sockAt, err := l.durAttr(w, "socket_timeout", time.Second)
	if err != nil {
		return nil, err
	}
	connect, connectAt, err := l.durAttr(w, "socket_connect_timeout", time.Millisecond)
	if err != nil {
		return nil, err
	}
	reply, replyAt, err := l.durAttr(w, "reply_timeout", time.Millisecond)
	if err != nil {
		return nil, err
	}
	switch {
	case connectAt != nil && connect > 0:
		jm.dial = jkDur{connect, connectAt.pos, connectAt.key}
	case sockAt != nil && sock > 0:
		jm.dial = jkDur{sock, sockAt.pos, sockAt.key}
	}
	switch {
	case replyAt != nil && reply > 0:
		jm.reply = jkDur{reply, replyAt.pos, replyAt.key}
	case sockAt != nil && sock > 0:
		jm.reply = jkDur{sock, sockAt.pos, sockAt.key}
	}
	if idle, p, err := l.durAttr(w, "connection_pool_timeout", time.Second); err != nil {
		return nil, err
	} else if p != nil && idle > 0 {
		jm.idle = jkDur{idle, p.pos, p.key}
	}
	l.boolAttr(w, "socket_keepalive", false) // Go dials with TCP keep-alive on

	// CPing/CPong probes → the active AJP health check.
	if err := l.ping(w, jm); err != nil {
		return nil, err
	}

	// fail_on_status: positive codes fail the member; negative ones
	// (fail the request, keep the member) are not supported.
	if p := w.attr("fail_on_status"); p != nil {
		jm.failAt = p
		for _, it := range splitItems(p.value, p.valPos) {
			code, err := strconv.Atoi(it.text)
			if err != nil || code == 0 || code > 599 || code < -599 || (code > 0 && code < 100) || (code < 0 && code > -100) {
				return nil, errorf(it.pos, "%s: %q is not an HTTP status code (100..599, or -100..-599)", p.key, it.text)
			}
			if code < 0 {
				l.warn(it.pos, "%s: %d (fail the request but not the member) is not supported; Tether passes %d responses to the client unchanged and keeps the member", p.key, code, -code)
				continue
			}
			if !slices.Contains(jm.failOn, code) {
				jm.failOn = append(jm.failOn, code)
			}
		}
	}

	// Honoured at their defaults only.
	l.notDefault(w, "prefer_ipv6", "false", "not supported; Tether dials the addresses the resolver returns in its order")
	l.notDefault(w, "retries", "2", "per-member connection retries are not supported; the lb worker's retries (other members) apply")
	l.notDefault(w, "retry_interval", "100", "not supported; Tether retries on another member at once")
	l.notDefault(w, "recovery_options", "0", "not supported; Tether retries on another member only requests it could not send, and idempotent ones")
	if err := l.memberLimit(w, jm); err != nil { // jkprotect.go
		return nil, err
	}
	return jm, nil
}

// memberOfLB reads route, domain, redirect, activation, lbfactor and
// distance.
func (l *jkLoader) memberOfLB(w *jkWorker, jm *jkMember) error {
	if p := w.attr("route"); p != nil {
		jm.m.Name, jm.m.Pos = p.value, p.valPos
	} else if p := w.attr("jvm_route"); p != nil {
		l.warn(p.pos, "%s is deprecated in mod_jk; honoured as route", p.key)
		jm.m.Name, jm.m.Pos = p.value, p.valPos
	}
	if jm.m.Name == "" {
		return errorf(jm.m.Pos, "worker %s: empty route", w.name)
	}
	if !validName(jm.m.Name) {
		return errorf(jm.m.Pos, "worker %s: route %q is not a valid member name (letters, digits and ._-:@~)", w.name, jm.m.Name)
	}
	if p := w.attr("domain"); p != nil && p.value != "" {
		jm.m.Domain = p.value
	} else if d, _, ok := strings.Cut(jm.m.Name, "."); ok && d != "" {
		jm.m.Domain = d // mod_jk: a route "d.r" puts the member in domain d
	}
	if p := w.attr("redirect"); p != nil && p.value != "" {
		jm.m.Redirect = p.value
	}
	if v, p, err := l.intAttr(w, "lbfactor", 0, 1<<20); err != nil {
		return err
	} else if p != nil {
		jm.m.Weight = max(v, 1) // mod_jk raises lbfactor 0 to 1 as well
	}
	if p := w.attr("activation"); p != nil {
		switch strings.ToUpper(p.value + " ")[0] {
		case 'A':
			jm.m.State = "active"
		case 'D':
			jm.m.State = "disabled"
		case 'S':
			jm.m.State = "stopped"
		default:
			l.warn(p.valPos, "%s: unknown activation %q (want A, D or S); active, as in mod_jk", p.key, p.value)
		}
	} else {
		if v, p := l.boolAttr(w, "disabled", false); p != nil {
			l.warn(p.pos, "%s is deprecated in mod_jk; honoured as activation=%s", p.key, map[bool]string{true: "D", false: "A"}[v])
			if v {
				jm.m.State = "disabled"
			}
		}
		if v, p := l.boolAttr(w, "stopped", false); p != nil {
			l.warn(p.pos, "%s is deprecated in mod_jk; honoured as activation=%s", p.key, map[bool]string{true: "S", false: "A"}[v])
			if v {
				jm.m.State = "stopped"
			}
		}
	}
	l.notDefault(w, "distance", "0", "not supported: Tether has no preference tiers, every usable member is a candidate")
	return nil
}

// ping maps ping_mode, ping_timeout, connect_timeout, prepost_timeout and
// connection_ping_interval onto an active CPing health check: mod_jk's C
// (after connect), P (before each request), I (idle connections) and A
// (all) probes all become "probe every member every HealthInterval, fail
// it without a CPong within HealthTimeout"; Tether's AJP transport also
// CPings a pooled connection that has been idle long before reusing it.
func (l *jkLoader) ping(w *jkWorker, jm *jkMember) error {
	var on *jkProp
	if p := w.attr("ping_mode"); p != nil {
		for _, c := range strings.ToUpper(p.value) {
			switch c {
			case 'C', 'P', 'I', 'A':
				on = p
			default:
				l.warn(p.valPos, "%s: unknown probe %q (want C, P, I or A); ignored, as mod_jk does", p.key, c)
			}
		}
	}
	to, toAt, err := l.durAttr(w, "ping_timeout", time.Millisecond)
	if err != nil {
		return err
	}
	ivl, ivlAt, err := l.durAttr(w, "connection_ping_interval", time.Second)
	if err != nil {
		return err
	}
	probeTO := jkDur{}
	for _, d := range []string{"connect_timeout", "prepost_timeout"} {
		v, p, err := l.durAttr(w, d, time.Millisecond)
		if err != nil {
			return err
		}
		if p != nil && v > 0 {
			if on == nil {
				on = p // setting one enables its probe in mod_jk
			}
			if v > probeTO.d {
				probeTO = jkDur{v, p.pos, p.key}
			}
		}
	}
	if ivlAt != nil && ivl > 0 && on == nil {
		on = ivlAt
	}
	if on == nil {
		return nil
	}
	jm.ping, jm.pingAt = true, on.pos
	switch {
	case toAt != nil && to > 0:
		jm.pingTO = jkDur{to, toAt.pos, toAt.key}
	case probeTO.set():
		jm.pingTO = probeTO
	default:
		jm.pingTO = jkDur{10 * time.Second, on.pos, "ping_timeout (mod_jk default 10000)"}
	}
	if ivlAt != nil && ivl > 0 {
		jm.pingIvl = jkDur{ivl, ivlAt.pos, ivlAt.key}
	}
	return nil
}

// jkHostName reports whether h can be resolved as written: an IPv4 or
// IPv6 address, or a host name of letters, digits, '-', '_' and '.'
// (underscores resolve through /etc/hosts).
func jkHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
