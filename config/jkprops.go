package config

import (
	"bytes"
	"strconv"
	"strings"
)

// jkProp is one "key=value" line of a mod_jk properties file, with the
// value's variables already substituted.
type jkProp struct {
	key, value string
	pos        Pos // the key's first byte
	valPos     Pos // the value's first byte
}

// jkProps is a parsed mod_jk properties file. mod_jk's own reader
// (jk_map_read_properties in jk_map.c, 1.2.48) is the model: lines are read
// 8191 bytes at a time (fgets), a '#' anywhere starts a comment (so a value
// cannot contain one), blanks around keys and values are trimmed, a line
// without '=' and a line whose key or value is empty are skipped. A repeated
// key depends on the file and the key (jk_map_handle_duplicates): in
// uriworkermap.properties the last value wins; in workers.properties a
// "unique" attribute (host, port, route, ...) takes the last value, a list
// (balance_workers, mount, worker.list, fail_on_status, ...) joins the
// values with ',', and any other key joins them with '*' ("1*0"), which is
// what mod_jk then reads.
type jkProps struct {
	file  string
	order []string           // keys in first-seen order
	props map[string]*jkProp // each key's value (joined for repeated list keys), at its last line
	lists map[string][]*jkProp
	warns []Warning
	err   error // the first error (a value too long after substitution)
}

// jkFileKind says which of mod_jk's two readings of a properties file
// applies.
type jkFileKind int

const (
	jkWorkersFile jkFileKind = iota // workers.properties: JK_MAP_HANDLE_DUPLICATES
	jkURIMapFile                    // uriworkermap.properties: JK_MAP_HANDLE_NORMAL
)

// jkMaxValue caps a value after $(name) substitution: a chain of lines
// like "v=$(v)$(v)" doubles it each time.
const jkMaxValue = 64 << 10

// jkListProps are the keys (by their last dot-separated part) whose
// repeated lines join into a comma-separated list (mod_jk's
// list_properties).
var jkListProps = map[string]bool{
	"list": true, "balance_workers": true, "mount": true, "user": true, "good": true, "bad": true, "fail_on_status": true,
}

// jkUniqueProps are the keys (by their last part) whose repeated lines
// replace the value, with mod_jk's "Duplicate key" warning (its
// unique_properties). Other repeated keys of workers.properties join with
// '*'.
var jkUniqueProps = map[string]bool{}

// jkSupportedProps are the attributes mod_jk 1.2.48 accepts in a
// worker.* key (its supported_properties); any other makes it refuse the
// whole file ("The attribute ... is not supported", and Apache does not
// start). Tether reads the file anyway and warns.
var jkSupportedProps = map[string]bool{}

func init() {
	for n := range strings.FieldsSeq("secret reference host source port type cachesize connection_pool_size " +
		"connection_pool_minsize cache_timeout connection_pool_timeout connection_acquire_timeout recovery_options " +
		"connect_timeout prepost_timeout ping_timeout ping_mode reply_timeout socket_timeout socket_connect_timeout " +
		"socket_buffer socket_keepalive connection_ping_interval recycle_timeout lbfactor sticky_session " +
		"sticky_session_force session_cookie session_path set_session_cookie session_cookie_path local_worker " +
		"local_worker_only jvm_route route domain redirect method lock disabled stopped activation recover_time " +
		"error_escalation_time max_reply_timeouts retry_interval busy_limit max_packet_size css read_only retries " +
		"lb_retries ns xmlns doctype prefix user_case_insensitive prefer_ipv6") {
		jkUniqueProps[n] = true
	}
	for n := range strings.FieldsSeq("sysprops stderr stdout secret mx ms class_path bridge jvm_lib ld_path cmd_line " +
		"native_lib reference host source port type cachesize connection_pool_size connection_pool_minsize " +
		"cache_timeout connection_pool_timeout connection_acquire_timeout recovery_options connect_timeout " +
		"prepost_timeout ping_timeout ping_mode reply_timeout socket_timeout socket_connect_timeout socket_buffer " +
		"socket_keepalive connection_ping_interval recycle_timeout lbfactor distance balanced_workers balance_workers " +
		"sticky_session sticky_session_force session_cookie session_path set_session_cookie session_cookie_path " +
		"local_worker local_worker_only jvm_route route domain redirect mount method lock disabled stopped activation " +
		"recover_time error_escalation_time max_reply_timeouts retry_interval busy_limit max_packet_size css ns xmlns " +
		"doctype prefix read_only user user_case_insensitive good bad secretkey retries lb_retries fail_on_status " +
		"list maintain prefer_ipv6") {
		jkSupportedProps[n] = true
	}
}

// jkMaxLine is one fgets of mod_jk's reader (LENGTH_OF_LINE 8192, less
// the NUL): a longer line is read as several.
const jkMaxLine = 8191

// jkMaxSubst is how many $(name) mod_jk substitutes in one value.
const jkMaxSubst = 21

// jkLines calls fn for each property line of src: key and value trimmed,
// comments removed, lines longer than jkMaxLine cut into pieces as mod_jk
// reads them. Empty keys and values are skipped, with a warning.
func jkLines(file string, src []byte, warn func(Pos, string), fn func(key, value string, kp, vp Pos)) {
	line := 0
	for len(src) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			l, src = src[:i], src[i+1:]
		} else {
			l, src = src, nil
		}
		for col := 0; ; col += jkMaxLine {
			piece := l
			if len(piece) > jkMaxLine {
				piece, l = l[:jkMaxLine], l[jkMaxLine:]
				if col == 0 {
					warn(Pos{File: file, Line: line, Col: 1}, "line longer than "+strconv.Itoa(jkMaxLine)+" bytes: mod_jk reads it in pieces of "+strconv.Itoa(jkMaxLine)+" bytes, each as a line of its own; so does Tether")
				}
				jkLine(file, line, col, piece, warn, fn)
				continue
			}
			jkLine(file, line, col, piece, warn, fn)
			break
		}
	}
}

// jkLine handles one piece of a line that starts at byte col of line.
func jkLine(file string, line, col int, l []byte, warn func(Pos, string), fn func(key, value string, kp, vp Pos)) {
	if i := bytes.IndexByte(l, '#'); i >= 0 {
		l = l[:i]
	}
	s := string(l)
	keyStart := len(s) - len(strings.TrimLeft(s, jkSpace))
	s = strings.Trim(s, jkSpace)
	if s == "" {
		return
	}
	kp := Pos{File: file, Line: line, Col: col + keyStart + 1}
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		warn(kp, "line "+strconv.Quote(s)+" has no '=' and is skipped (mod_jk skips it too)")
		return
	}
	key := strings.Trim(s[:eq], jkSpace)
	rest := s[eq+1:]
	value := strings.Trim(rest, jkSpace)
	vp := kp
	vp.Col += eq + 1 + len(rest) - len(strings.TrimLeft(rest, jkSpace))
	switch {
	case key == "":
		warn(kp, "line with an empty key is skipped (mod_jk skips it too)")
		return
	case value == "":
		warn(kp, key+" has an empty value: the line is skipped, as mod_jk skips it (an earlier value or the default stays)")
		return
	}
	fn(key, value, kp, vp)
}

// jkSpace is what mod_jk's trim removes (isspace).
const jkSpace = " \t\r\n\f\v"

// parseJKProps reads a workers.properties (kind jkWorkersFile) or a
// uriworkermap.properties (jkURIMapFile). lookupEnv resolves $(name)
// variables that no earlier property defines. pre are properties read
// before the file (httpd's JkWorkerProperty lines, which mod_jk reads
// before the JkWorkersFile).
func parseJKProps(file string, src []byte, lookupEnv func(string) (string, bool), kind jkFileKind, pre ...JKProperty) (*jkProps, error) {
	p := &jkProps{file: file, props: map[string]*jkProp{}, lists: map[string][]*jkProp{}}
	warn := func(at Pos, msg string) { p.warns = append(p.warns, Warning{Pos: at, Msg: msg}) }
	add := func(key, value string, kp, vp Pos) { p.add(key, value, kp, vp, lookupEnv, kind) }
	for _, pr := range pre {
		jkLine(pr.Pos.File, pr.Pos.Line, pr.Pos.Col-1, []byte(pr.Line), warn, add)
	}
	jkLines(file, src, warn, add)
	return p, p.err
}

// add reads one property line: key and value trimmed, at kp and vp.
func (p *jkProps) add(key, value string, kp, vp Pos, lookupEnv func(string) (string, bool), kind jkFileKind) {
	warn := func(at Pos, msg string) { p.warns = append(p.warns, Warning{Pos: at, Msg: msg}) }
	if p.err != nil {
		return
	}
	if kind == jkWorkersFile && strings.HasPrefix(key, "worker.") && !jkSupportedProps[lastPart(key)] {
		warn(kp, key+": mod_jk 1.2.48 refuses a workers.properties with this attribute (\"The attribute '"+key+
			"' is not supported\") and Apache does not start; Tether ignores it")
	}
	value = p.substitute(value, vp, lookupEnv)
	if len(value) > jkMaxValue {
		p.err = errorf(vp, "%s: the value is longer than %d bytes after $(name) substitution", key, jkMaxValue)
		return
	}
	prop := &jkProp{key: key, value: value, pos: kp, valPos: vp}
	prev, seen := p.props[key]
	if !seen {
		p.order = append(p.order, key)
	}
	last := lastPart(key)
	switch {
	case kind == jkWorkersFile && jkListProps[last]:
		p.lists[key] = append(p.lists[key], prop)
		if seen {
			joined := *prop // the lists keep each line's own value
			joined.value = prev.value + "," + value
			prop = &joined
		}
	case !seen:
	case kind == jkURIMapFile || jkUniqueProps[last] && strings.Contains(key, "."):
		if prev.value != value {
			warn(kp, key+" is set again (first at "+prev.pos.String()+"); the last value wins, as in mod_jk (\"Duplicate key ... overwritten\")")
		}
	default:
		sep := "*"
		switch {
		case strings.HasSuffix(key, "_path"):
			sep = ":"
		case strings.HasSuffix(key, ".cmd_line"):
			sep = " "
		}
		prop.value = prev.value + sep + value
		warn(kp, key+" is set again (first at "+prev.pos.String()+"): mod_jk joins the values of a repeated "+key+" into "+strconv.Quote(prop.value)+" and reads that; so does Tether")
	}
	if len(prop.value) > jkMaxValue {
		p.err = errorf(kp, "%s is repeated so often that its joined value (mod_jk joins repeated keys) is longer than %d bytes", key, jkMaxValue)
		return
	}
	p.props[key] = prop
}

func lastPart(key string) string {
	return key[strings.LastIndexByte(key, '.')+1:]
}

// substitute replaces $(name) in v by the value of the property name read so
// far, else the environment variable name (mod_jk's
// jk_map_replace_properties). An undefined variable is kept as written,
// with a warning.
func (p *jkProps) substitute(v string, at Pos, lookupEnv func(string) (string, bool)) string {
	if !strings.Contains(v, "$(") {
		return v
	}
	var b strings.Builder
	rest := v
	for n := 0; ; n++ {
		if n == jkMaxSubst {
			b.WriteString(rest) // mod_jk stops substituting here
			break
		}
		i := strings.Index(rest, "$(")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i:], ')')
		if j < 0 {
			b.WriteString(rest)
			break
		}
		name := rest[i+2 : i+j]
		b.WriteString(rest[:i])
		if b.Len() > jkMaxValue {
			break
		}
		if prop, ok := p.props[name]; ok {
			b.WriteString(prop.value)
		} else if val, ok := lookupEnv(name); ok && name != "" {
			b.WriteString(val)
		} else {
			vp := at
			vp.Col += len(v) - len(rest) + i
			p.warns = append(p.warns, Warning{Pos: vp, Msg: "$(" + name + ") is neither a property defined above nor an environment variable; kept as written"})
			b.WriteString(rest[i : i+j+1])
		}
		rest = rest[i+j+1:]
	}
	return b.String()
}

// listValues splits the values of a list property at commas and blanks, in
// file order, each with the position of its line's value.
func (p *jkProps) listValues(key string) []jkItem {
	var out []jkItem
	for _, prop := range p.lists[key] {
		out = append(out, splitItems(prop.value, prop.valPos)...)
	}
	return out
}

// jkItem is one element of a list value.
type jkItem struct {
	text string
	pos  Pos
}

// splitItems splits v at commas and blanks; pos is v's first byte.
func splitItems(v string, pos Pos) []jkItem {
	var out []jkItem
	start := -1
	for i := 0; i <= len(v); i++ {
		sep := i == len(v) || v[i] == ',' || v[i] == ' ' || v[i] == '\t'
		if !sep && start < 0 {
			start = i
		}
		if sep && start >= 0 {
			ip := pos
			ip.Col += start
			out = append(out, jkItem{text: v[start:i], pos: ip})
			start = -1
		}
	}
	return out
}

// jkBool parses a mod_jk boolean (jk_get_bool_code): 0, off, and words
// starting with f or n are false; 1, on, and words starting with t or y
// are true. ok is false for anything else.
func jkBool(v string) (val, ok bool) {
	switch strings.ToLower(v) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	if v == "" {
		return false, false
	}
	switch v[0] {
	case '0', 'f', 'F', 'n', 'N':
		return false, true
	case '1', 't', 'T', 'y', 'Y':
		return true, true
	}
	return false, false
}
