package config

import (
	"net/textproto"
	"strings"
)

// ResponseHandler is one of a reverse_proxy's handle_response or
// replace_status (Caddy's "intercepting responses"): the first whose
// Match passes a member's answer takes it.
type ResponseHandler struct {
	// Match is the named response matcher it takes answers by; nil: every
	// answer.
	Match *ResponseMatcher
	// Status is replace_status's: the member's answer passes as it is,
	// with this status (a code, or placeholders that give one, such as
	// {err.status_code}).
	Status *Template
	// Routes are handle_response's: they answer the original request
	// instead of the member's answer (which they may copy with
	// copy_response), and the request goes on past the reverse_proxy when
	// they answer nothing. Their placeholders include {rp.status_code},
	// {rp.status_text} and {rp.header.NAME}.
	Routes []*Route
	Pos    Pos
}

// CopyResponse is copy_response in a handle_response block: the member's
// answer is written as it is (its headers, after header_down, and its
// body), with Status instead of its own when set.
type CopyResponse struct {
	Status *Template
	Pos    Pos
}

// CopyResponseHeaders is copy_response_headers in a handle_response
// block: the member's header fields are added to the answer, only those
// in Include when set, all but those in Exclude otherwise.
type CopyResponseHeaders struct {
	Include, Exclude []string // canonical field names
	Pos              Pos
}

// responseMatchers parses the named response matchers of a reverse_proxy
// block ("@name status ..." or "@name { header ...; status ... }").
func responseMatchers(block []*node) (map[string]*ResponseMatcher, error) {
	out := map[string]*ResponseMatcher{}
	for _, d := range block {
		name := d.name()
		if !strings.HasPrefix(name, "@") {
			continue
		}
		if len(name) < 2 {
			return nil, errorf(d.args[0].pos, "matcher: want a name after @")
		}
		if prev, dup := out[name]; dup {
			return nil, errorf(d.args[0].pos, "response matcher %s is defined twice (first at %s)", name, prev.Pos)
		}
		m, err := responseMatcher(d)
		if err != nil {
			return nil, err
		}
		out[name] = m
	}
	return out, nil
}

// responseHandler parses "handle_response [@name] { ... }" or
// "replace_status [@name] STATUS".
func (b *builder) responseHandler(d *node, matchers map[string]*ResponseMatcher, sc *scope, s *Site) (*ResponseHandler, error) {
	h := &ResponseHandler{Pos: d.args[0].pos}
	args := d.args[1:]
	if len(args) > 0 && strings.HasPrefix(args[0].text, "@") {
		m, ok := matchers[args[0].text]
		if !ok {
			return nil, errorf(args[0].pos, "%s: no response matcher named %s is defined in this reverse_proxy block", d.name(), args[0].text)
		}
		h.Match, args = m, args[1:]
	} else if len(args) > 0 && d.name() == "handle_response" {
		return nil, errorf(args[0].pos, "handle_response: %q: want a named response matcher (@name, defined in the reverse_proxy block with status or header)", args[0].text)
	}
	if d.name() == "replace_status" {
		if len(args) != 1 {
			return nil, errorf(d.args[0].pos, "replace_status: want [@matcher] STATUS")
		}
		if d.hasBlock {
			return nil, errorf(d.open, "replace_status takes no block; routes go in handle_response")
		}
		st, err := statusTemplate(d, args[0])
		if err != nil {
			return nil, err
		}
		h.Status = st
		return h, nil
	}
	if len(args) > 0 {
		return nil, errorf(args[0].pos, "handle_response: unexpected %q", args[0].text)
	}
	if !d.hasBlock {
		return nil, errorf(d.args[0].pos, "handle_response: want a block of directives that answer instead of the member")
	}
	inner := *sc
	inner.inResponse = true
	routes, err := b.block(d.block, &inner, s, true)
	if err != nil {
		return nil, err
	}
	arrange(routes, true, &b.groups)
	h.Routes = routes
	return h, nil
}

// statusTemplate parses a status that may be a placeholder: a code
// 100..599 is checked now, placeholders when the answer is written.
func statusTemplate(n *node, t token) (*Template, error) {
	tp, err := parseTemplate(t)
	if err != nil {
		return nil, err
	}
	if tp.Static() && !isStatus(t.text) {
		return nil, errorf(t.pos, "%s: status %q: want a status code 100..599 or a placeholder ({err.status_code})", n.name(), t.text)
	}
	return &tp, nil
}

// copyResponse parses "copy_response [STATUS] [{ status STATUS }]" (its
// matcher taken off).
func copyResponse(n *node) (*CopyResponse, error) {
	if err := n.argc(0, 1); err != nil {
		return nil, err
	}
	c := &CopyResponse{Pos: n.args[0].pos}
	if n.nargs() == 1 {
		st, err := statusTemplate(n, n.arg(0))
		if err != nil {
			return nil, err
		}
		c.Status = st
	}
	for _, s := range n.block {
		if s.name() != "status" {
			return nil, unknown(s, "copy_response option", []string{"status"}, nil, "")
		}
		if err := s.simple(1); err != nil {
			return nil, err
		}
		if c.Status != nil {
			return nil, errorf(s.args[0].pos, "copy_response: the status is set twice")
		}
		st, err := statusTemplate(n, s.arg(0))
		if err != nil {
			return nil, err
		}
		c.Status = st
	}
	return c, nil
}

// copyResponseHeaders parses "copy_response_headers [{ include F...;
// exclude F... }]" (its matcher taken off).
func copyResponseHeaders(n *node) (*CopyResponseHeaders, error) {
	if err := n.argc(0, 0); err != nil {
		return nil, err
	}
	c := &CopyResponseHeaders{Pos: n.args[0].pos}
	for _, s := range n.block {
		if err := s.argc(1, -1); err != nil {
			return nil, err
		}
		if err := s.noBlock(); err != nil {
			return nil, err
		}
		var fields *[]string
		switch s.name() {
		case "include":
			fields = &c.Include
		case "exclude":
			fields = &c.Exclude
		default:
			return nil, unknown(s, "copy_response_headers option", []string{"include", "exclude"}, nil, "")
		}
		for _, a := range s.args[1:] {
			*fields = append(*fields, textproto.CanonicalMIMEHeaderKey(a.text))
		}
	}
	if len(c.Include) > 0 && len(c.Exclude) > 0 {
		return nil, errorf(c.Pos, "copy_response_headers: include or exclude, not both")
	}
	return c, nil
}
