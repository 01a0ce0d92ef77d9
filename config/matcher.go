package config

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Matcher is a matcher set (Caddy's): a request matches when it passes
// every condition that is set. Within one condition the values are
// alternatives (path /a /b matches either path); conditions on different
// header fields or query keys must all hold.
type Matcher struct {
	// Name is "@name" for a named matcher, "" for an inline path or "*".
	Name string
	// Paths are path patterns as Caddy's path matcher has them, matched
	// case-insensitively against the request path without ;parameters:
	// "/exact", "/prefix*", "*.suffix", "/a/*/b" (a * matches within and
	// across segments), "*" every path.
	Paths       []string
	PathRegexps []NamedRegexp
	// Hosts are host names, lower case; "*.example.com" matches one label.
	Hosts   []string
	Methods []string // upper case
	// Headers are the header conditions; HeaderRegexps the header_regexp
	// ones (Field set).
	Headers       []FieldMatch
	HeaderRegexps []NamedRegexp
	Query         []FieldMatch
	// RemoteIPs match the connection's peer (after PROXY protocol);
	// ClientIPs the client address trusted_proxies lets Tether believe.
	RemoteIPs []netip.Prefix
	ClientIPs []netip.Prefix
	// Protocol is http, https, grpc, http/1.0, http/1.1, http/2 or http/3;
	// "" any.
	Protocol string
	// Expressions are CEL expressions (Caddy's expression matcher), each
	// of which must be true.
	Expressions []*Expression
	// Not are the negated matcher sets: the request matches none of them.
	Not []*Matcher
	Pos Pos
}

// FieldMatch is one header or query condition. Values are alternatives:
// "*" any value, "*x" a suffix, "x*" a prefix, else the exact value; no
// Values means the field must be present, Absent that it must not be.
type FieldMatch struct {
	Field  string
	Values []string
	Absent bool
}

// NamedRegexp is a path_regexp or header_regexp: Name (default the
// matcher's own name) prefixes its capture groups' placeholders,
// {re.NAME.1}.
type NamedRegexp struct {
	Name    string
	Field   string // header_regexp's header field
	Pattern string
	Re      *regexp.Regexp
}

// matcherConditions are the conditions of a matcher set.
var matcherConditions = []string{"path", "path_regexp", "host", "method", "header", "header_regexp", "query", "remote_ip", "client_ip", "protocol", "expression", "not"}

// matcherPlugins are Caddy matchers Tether does not have, each with what
// to write instead.
var matcherPlugins = map[string]string{
	"file":        "file (the try_files matcher) is not supported",
	"vars":        "vars is not supported",
	"vars_regexp": "vars_regexp is not supported",
}

// matcherDef parses a named matcher definition, "@name COND ARGS..." or
// "@name { COND ARGS... }".
func (b *builder) matcherDef(n *node) (*Matcher, error) {
	m := &Matcher{Name: n.name(), Pos: n.args[0].pos}
	if len(m.Name) < 2 {
		return nil, errorf(m.Pos, "matcher: want a name after @")
	}
	if n.nargs() > 0 {
		if n.hasBlock {
			return nil, errorf(n.open, "%s: write the conditions on the line or in a block, not both", m.Name)
		}
		if t := n.arg(0); t.kind == tokQuoted || t.kind == tokBacktick || t.kind == tokHeredoc {
			// Caddy's shorthand: a quoted argument is a CEL expression.
			if n.nargs() > 1 {
				return nil, errorf(n.arg(1).pos, "%s: unexpected %q after the quoted expression (quote the whole expression)", m.Name, n.arg(1).text)
			}
			e, err := b.parseExpression(m, n.args[1:])
			if err != nil {
				return nil, err
			}
			m.Expressions = append(m.Expressions, e)
			return m, nil
		}
		line := &node{args: n.args[1:]}
		if err := b.matcherCond(m, line); err != nil {
			return nil, err
		}
		return m, nil
	}
	if len(n.block) == 0 {
		return nil, errorf(m.Pos, "%s: no conditions (a matcher that matches everything is *)", m.Name)
	}
	for _, c := range n.block {
		if err := b.matcherCond(m, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// matcherCond adds one condition line to m.
func (b *builder) matcherCond(m *Matcher, c *node) error {
	name := c.name()
	if msg, ok := matcherPlugins[name]; ok {
		return errorf(c.args[0].pos, "%s: %s", m.Name, msg)
	}
	if name != "not" && c.hasBlock {
		return errorf(c.open, "%s: %s takes no block", m.Name, name)
	}
	args := c.args[1:]
	need := func(k int) error {
		if len(args) < k {
			return errorf(c.args[0].pos, "%s: %s needs an argument", m.Name, name)
		}
		return nil
	}
	switch name {
	case "path":
		if err := need(1); err != nil {
			return err
		}
		for _, a := range args {
			if !strings.HasPrefix(a.text, "/") && !strings.HasPrefix(a.text, "*") {
				return errorf(a.pos, "%s: path %q must start with / or *", m.Name, a.text)
			}
			m.Paths = append(m.Paths, a.text)
		}
	case "path_regexp", "header_regexp":
		min := 1
		if name == "header_regexp" {
			min = 2
		}
		if err := need(min); err != nil {
			return err
		}
		if len(args) > min+1 {
			return errorf(args[min+1].pos, "%s: %s: unexpected argument %q", m.Name, name, args[min+1].text)
		}
		re := NamedRegexp{Name: strings.TrimPrefix(m.Name, "@")}
		if len(args) == min+1 {
			re.Name, args = args[0].text, args[1:]
		}
		if name == "header_regexp" {
			re.Field, args = args[0].text, args[1:]
		}
		re.Pattern = args[0].text
		var err error
		if re.Re, err = regexp.Compile(re.Pattern); err != nil {
			return errorf(args[0].pos, "%s: %s: %v", m.Name, name, err)
		}
		if name == "path_regexp" {
			m.PathRegexps = append(m.PathRegexps, re)
		} else {
			m.HeaderRegexps = append(m.HeaderRegexps, re)
		}
	case "host":
		if err := need(1); err != nil {
			return err
		}
		for _, a := range args {
			m.Hosts = append(m.Hosts, strings.ToLower(a.text))
		}
	case "method":
		if err := need(1); err != nil {
			return err
		}
		for _, a := range args {
			m.Methods = append(m.Methods, strings.ToUpper(a.text))
		}
	case "header":
		if err := need(1); err != nil {
			return err
		}
		f := FieldMatch{Field: args[0].text}
		if v, ok := strings.CutPrefix(f.Field, "!"); ok {
			f.Field, f.Absent = v, true
			if len(args) > 1 {
				return errorf(args[1].pos, "%s: header !%s takes no value", m.Name, v)
			}
		}
		for _, a := range args[1:] {
			f.Values = append(f.Values, a.text)
		}
		// The same field on several lines: its values are alternatives.
		m.Headers = mergeField(m.Headers, f)
	case "query":
		if err := need(1); err != nil {
			return err
		}
		for _, a := range args {
			k, v, ok := strings.Cut(a.text, "=")
			if !ok || k == "" {
				return errorf(a.pos, "%s: query %q: want key=value (value * for any)", m.Name, a.text)
			}
			i := slices.IndexFunc(m.Query, func(f FieldMatch) bool { return f.Field == k })
			if i < 0 {
				m.Query = append(m.Query, FieldMatch{Field: k})
				i = len(m.Query) - 1
			}
			m.Query[i].Values = append(m.Query[i].Values, v)
		}
	case "remote_ip", "client_ip":
		if err := need(1); err != nil {
			return err
		}
		if args[0].text == "forwarded" {
			return errorf(args[0].pos, "%s: remote_ip forwarded is gone from Caddy; use client_ip with trusted_proxies", m.Name)
		}
		for _, a := range args {
			var ps []netip.Prefix
			if a.text == "private_ranges" {
				ps = privateRanges
			} else if p, ok := parsePrefix(a.text); ok {
				ps = []netip.Prefix{p}
			} else {
				if strings.ContainsAny(a.text, "()") {
					// Caddy parses it as an address too, and refuses it.
					return errorf(a.pos, "%s: %s: %q is not a CIDR or IP address (or private_ranges); a CEL call belongs in an expression matcher, where %s('10.0.0.0/8') takes string arguments", m.Name, name, a.text, name)
				}
				return errorf(a.pos, "%s: %s: %q is not a CIDR or IP address (or private_ranges)", m.Name, name, a.text)
			}
			if name == "remote_ip" {
				m.RemoteIPs = append(m.RemoteIPs, ps...)
			} else {
				m.ClientIPs = append(m.ClientIPs, ps...)
			}
		}
	case "expression":
		if err := need(1); err != nil {
			return err
		}
		e, err := b.parseExpression(m, args)
		if err != nil {
			return err
		}
		m.Expressions = append(m.Expressions, e)
	case "protocol":
		if len(args) != 1 {
			return errorf(c.args[0].pos, "%s: protocol takes one of http, https, grpc, http/1.0, http/1.1, http/2, http/3", m.Name)
		}
		p := strings.ToLower(args[0].text)
		if !slices.Contains([]string{"http", "https", "grpc", "http/1.0", "http/1.1", "http/2", "http/2+", "http/1.1+", "http/3"}, p) {
			return errorf(args[0].pos, "%s: protocol %q: want http, https, grpc, http/1.0, http/1.1, http/2 or http/3", m.Name, p)
		}
		m.Protocol = p
	case "not":
		sub := &Matcher{Name: m.Name, Pos: c.args[0].pos}
		switch {
		case len(args) > 0 && c.hasBlock:
			return errorf(c.open, "%s: not takes one condition or a block, not both", m.Name)
		case len(args) > 0:
			if err := b.matcherCond(sub, &node{args: args}); err != nil {
				return err
			}
		case len(c.block) > 0:
			for _, cc := range c.block {
				if err := b.matcherCond(sub, cc); err != nil {
					return err
				}
			}
		default:
			return errorf(c.args[0].pos, "%s: not needs a condition", m.Name)
		}
		m.Not = append(m.Not, sub)
	default:
		return unknown(c, "matcher condition", matcherConditions, nil, "")
	}
	return nil
}

// SinglePath is the path of a matcher that has exactly one path pattern,
// which Caddy's directive sorting compares; "" otherwise.
func (m *Matcher) SinglePath() string {
	if m == nil || len(m.Paths) != 1 {
		return ""
	}
	return m.Paths[0]
}
