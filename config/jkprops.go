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
// (jk_map_read_properties in jk_map.c) is the model: a '#' anywhere starts
// a comment (so a value cannot contain one), blanks around keys and values
// are trimmed, a line without '=' is skipped, a repeated key replaces the
// earlier value (mod_jk logs "Duplicate key"), except for list properties,
// whose values accumulate.
type jkProps struct {
	file  string
	order []string           // keys in first-seen order
	props map[string]*jkProp // the last occurrence of each key
	lists map[string][]*jkProp
	warns []Warning
	err   error // the first error (a value too long after substitution)
}

// jkMaxValue caps a value after $(name) substitution: a chain of lines
// like "v=$(v)$(v)" doubles it each time.
const jkMaxValue = 64 << 10

// jkListProps are the properties whose repeated lines add to a list
// (mod_jk's list_properties) rather than replace.
var jkListProps = map[string]bool{
	"list": true, "balance_workers": true, "balanced_workers": true, "mount": true,
	"user": true, "good": true, "bad": true,
}

// jkMaxLine is mod_jk's LENGTH_OF_LINE: longer lines are skipped with a
// warning, as mod_jk does.
const jkMaxLine = 8192

// jkLines calls fn for each property line of src: key and value trimmed,
// comments removed. raw keeps the variables of the value unsubstituted.
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
		if len(l) > jkMaxLine {
			warn(Pos{File: file, Line: line, Col: 1}, "line longer than "+strconv.Itoa(jkMaxLine)+" bytes is skipped, as mod_jk does")
			continue
		}
		if i := bytes.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		s := string(l)
		keyStart := len(s) - len(strings.TrimLeft(s, " \t\r\f\v"))
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		kp := Pos{File: file, Line: line, Col: keyStart + 1}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			warn(kp, "line "+strconv.Quote(s)+" has no '=' and is skipped (mod_jk skips it too)")
			continue
		}
		key := strings.TrimSpace(s[:eq])
		rest := s[eq+1:]
		value := strings.TrimSpace(rest)
		vp := kp
		vp.Col += eq + 1 + len(rest) - len(strings.TrimLeft(rest, " \t\r\f\v"))
		if key == "" {
			warn(kp, "line with an empty key is skipped")
			continue
		}
		fn(key, value, kp, vp)
	}
}

// parseJKProps reads a workers.properties. lookupEnv resolves $(name)
// variables that no earlier property defines.
func parseJKProps(file string, src []byte, lookupEnv func(string) (string, bool)) (*jkProps, error) {
	p := &jkProps{file: file, props: map[string]*jkProp{}, lists: map[string][]*jkProp{}}
	warn := func(at Pos, msg string) { p.warns = append(p.warns, Warning{Pos: at, Msg: msg}) }
	jkLines(file, src, warn, func(key, value string, kp, vp Pos) {
		if p.err != nil {
			return
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
		if jkListProps[lastPart(key)] && strings.HasPrefix(key, "worker.") {
			p.lists[key] = append(p.lists[key], prop)
		} else if seen && prev.value != value {
			warn(kp, key+" is set again (first at "+prev.pos.String()+"); the last value wins, as in mod_jk")
		}
		p.props[key] = prop
	})
	return p, p.err
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
	for {
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
