package config

import (
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// ResponseMatcher is Caddy's response matcher: what an answer's status
// and header fields must be. It decides which answers encode compresses
// (encode { match { ... } }) and which of a member's answers a
// reverse_proxy's handle_response or replace_status takes.
type ResponseMatcher struct {
	// Name is "@name" for a named one (inside reverse_proxy), "match" for
	// encode's.
	Name string
	// Statuses are the statuses one of which the answer must have:
	// exact (404) or classes by their first digit (5 for 5xx). Empty:
	// any.
	Statuses []int
	// Headers are the header conditions, all of which must hold; the
	// values of one field are alternatives, with the request header
	// matcher's wildcards ("text/*" a prefix, "*json" a suffix, "*x*" a
	// substring, "*" any value), compared case-sensitively with the whole
	// field value. A field without values must be present; Absent (!X),
	// must not be.
	Headers []FieldMatch
	Pos     Pos
}

// responseConditions are the conditions of a response matcher.
var responseConditions = []string{"status", "header"}

// responseMatcher parses a response matcher: "NAME status|header ..." on
// one line, or "NAME { status ...; header ... }". n's first token is the
// name (@name, or encode's "match").
func responseMatcher(n *node) (*ResponseMatcher, error) {
	m := &ResponseMatcher{Name: n.name(), Pos: n.args[0].pos}
	switch {
	case n.nargs() > 0 && n.hasBlock:
		return nil, errorf(n.open, "%s: write the conditions on the line or in a block, not both", m.Name)
	case n.nargs() > 0:
		if err := m.condition(&node{args: n.args[1:]}); err != nil {
			return nil, err
		}
	case len(n.block) == 0:
		return nil, errorf(m.Pos, "%s: want status or header conditions", m.Name)
	}
	for _, c := range n.block {
		if err := m.condition(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// condition adds one "status CODE..." or "header FIELD [VALUE]" line.
func (m *ResponseMatcher) condition(c *node) error {
	if c.hasBlock {
		return errorf(c.open, "%s: %s takes no block", m.Name, c.name())
	}
	args := c.args[1:]
	switch c.name() {
	case "status":
		if len(args) == 0 {
			return errorf(c.args[0].pos, "%s: status needs a status code (404) or class (4xx)", m.Name)
		}
		for _, a := range args {
			v := strings.ToLower(a.text)
			if len(v) == 3 && v[1:] == "xx" && v[0] >= '1' && v[0] <= '5' {
				m.Statuses = append(m.Statuses, int(v[0]-'0'))
				continue
			}
			code, err := strconv.Atoi(v)
			if err != nil || len(v) != 3 || code < 100 || code > 599 {
				return errorf(a.pos, "%s: status %q: want a status code (404) or a class (4xx)", m.Name, a.text)
			}
			m.Statuses = append(m.Statuses, code)
		}
	case "header":
		if len(args) == 0 {
			return errorf(c.args[0].pos, "%s: header needs a field", m.Name)
		}
		field, absent := strings.CutPrefix(args[0].text, "!")
		if field == "" {
			return errorf(args[0].pos, "%s: header: want a field name", m.Name)
		}
		if absent && len(args) > 1 {
			return errorf(args[1].pos, "%s: header !%s takes no value", m.Name, field)
		}
		var vals []string
		for _, a := range args[1:] {
			vals = append(vals, a.text)
		}
		m.Headers = mergeField(m.Headers, FieldMatch{Field: textproto.CanonicalMIMEHeaderKey(field), Values: vals, Absent: absent})
	default:
		return unknown(c, "response matcher condition", responseConditions, nil, "")
	}
	return nil
}

// mergeField adds f to fs: the values of a field given on several lines
// are alternatives (Caddy's "header Foo bar" and "header Foo baz" match
// either), so they join the field's earlier condition.
func mergeField(fs []FieldMatch, f FieldMatch) []FieldMatch {
	i := slices.IndexFunc(fs, func(g FieldMatch) bool { return strings.EqualFold(g.Field, f.Field) })
	if i < 0 {
		return append(fs, f)
	}
	g := &fs[i]
	switch {
	case f.Absent || g.Absent:
		*g = f // the last word on whether the field may be there
	case len(g.Values) == 0 || len(f.Values) == 0:
		g.Values = nil // present with any value
	default:
		g.Values = append(g.Values, f.Values...)
	}
	return fs
}

// MatchesStatus reports whether code is one of m's statuses or classes
// (any when m has none).
func (m *ResponseMatcher) MatchesStatus(code int) bool {
	if len(m.Statuses) == 0 {
		return true
	}
	for _, s := range m.Statuses {
		if s == code || s < 10 && code/100 == s {
			return true
		}
	}
	return false
}
