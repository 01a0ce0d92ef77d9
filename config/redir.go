package config

import (
	"strconv"
	"strings"
)

// Redirect is a site's `redir` (Caddy's): answer with a redirection.
type Redirect struct {
	// Path, when not empty, is the path matcher ("/old", "/old/*"); empty
	// matches every request.
	Path string
	To   Template
	// Code is the status (301, 302, 303, 307, 308, or any 3xx); 0 with
	// HTML writes a page that redirects (Caddy's "html").
	Code int
	HTML bool
	Pos  Pos
}

// Respond is a site's `respond` (Caddy's): a fixed answer.
type Respond struct {
	Path   string // as Redirect.Path
	Body   Template
	Status int  // 0: 200, or in handle_errors the error's status (Caddy's)
	Close  bool // close the connection after the answer
	Pos    Pos
}

// pathMatcher reports whether t is a path matcher argument.
func pathMatcher(t token) bool { return strings.HasPrefix(t.text, "/") }

func matcherArg(t token, directive string) error {
	if strings.HasPrefix(t.text, "@") || t.text == "*" {
		return errorf(t.pos, "%s: named matchers (%s) are not supported yet; a path (/old, /old/*) is", directive, t.text)
	}
	return nil
}

// redir parses redir [PATH] TO [CODE], CODE one of permanent (301),
// temporary (302, the default), html, or a 3xx status.
func redir(n *node) (*Redirect, error) {
	if err := n.argc(1, 3); err != nil {
		return nil, err
	}
	if err := n.noBlock(); err != nil {
		return nil, err
	}
	r := &Redirect{Code: 302, Pos: n.args[0].pos}
	args := n.args[1:]
	if err := matcherArg(args[0], "redir"); err != nil {
		return nil, err
	}
	// Two arguments are a path and a target unless the second is a code.
	if len(args) == 3 || len(args) == 2 && pathMatcher(args[0]) && !isRedirCode(args[1].text) {
		r.Path, args = args[0].text, args[1:]
	}
	to, err := parseTemplate(args[0])
	if err != nil {
		return nil, err
	}
	r.To = to
	if len(args) == 2 {
		switch c := args[1].text; c {
		case "permanent":
			r.Code = 301
		case "temporary":
			r.Code = 302
		case "html":
			r.Code, r.HTML = 200, true
		default:
			v, err := strconv.Atoi(c)
			if err != nil || v < 300 || v > 399 {
				return nil, errorf(args[1].pos, "redir: code %q: want permanent, temporary, html or a 3xx status", c)
			}
			r.Code = v
		}
	}
	return r, nil
}

func isRedirCode(s string) bool {
	switch s {
	case "permanent", "temporary", "html":
		return true
	}
	v, err := strconv.Atoi(s)
	return err == nil && v >= 300 && v <= 399
}

// respond parses respond [PATH] [BODY] [STATUS] [{ body TEXT; close }].
func respond(n *node) (*Respond, error) {
	if err := n.argc(0, 3); err != nil {
		return nil, err
	}
	r := &Respond{Pos: n.args[0].pos}
	args := n.args[1:]
	if len(args) > 0 {
		if err := matcherArg(args[0], "respond"); err != nil {
			return nil, err
		}
		if pathMatcher(args[0]) && (len(args) > 1 || !isStatus(args[0].text)) {
			r.Path, args = args[0].text, args[1:]
		}
	}
	switch {
	case len(args) == 1 && isStatus(args[0].text):
		r.Status, _ = strconv.Atoi(args[0].text)
	case len(args) >= 1:
		b, err := parseTemplate(args[0])
		if err != nil {
			return nil, err
		}
		r.Body = b
		if len(args) == 2 {
			if !isStatus(args[1].text) {
				return nil, errorf(args[1].pos, "respond: status %q: want 100..999", args[1].text)
			}
			r.Status, _ = strconv.Atoi(args[1].text)
		}
	}
	if len(args) > 2 {
		return nil, errorf(args[2].pos, "respond: unexpected argument %q", args[2].text)
	}
	for _, s := range n.block {
		switch s.name() {
		case "body":
			if err := s.simple(1); err != nil {
				return nil, err
			}
			b, err := parseTemplate(s.arg(0))
			if err != nil {
				return nil, err
			}
			r.Body = b
		case "close":
			if err := s.simple(0); err != nil {
				return nil, err
			}
			r.Close = true
		default:
			return nil, unknown(s, "respond option", []string{"body", "close"}, nil, "")
		}
	}
	return r, nil
}

func isStatus(s string) bool {
	v, err := strconv.Atoi(s)
	return err == nil && len(s) == 3 && v >= 100 && v <= 999
}
