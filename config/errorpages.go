package config

import (
	"slices"
	"strconv"
	"strings"
)

// ErrorRoute is one of Caddy's handle_errors blocks: the routes that answer
// an error Tether itself produced (a file_server 404, a balancer's 502, 503
// or 504, a 413 body, a 401 of basic_auth, an error directive), instead of
// its default error page. Answers from members are not errors: they pass
// as they are, unless a reverse_proxy's handle_response takes them.
type ErrorRoute struct {
	// Statuses and Classes are the errors it handles: exact statuses
	// (404), and classes by their first digit (5 for 5xx). Both empty:
	// every error.
	Statuses []int
	Classes  []int
	// Routes run as a handle block's do, with {err.*} placeholders set
	// (status_code, status_text, message, id); a respond without a status
	// answers with the error's, and so does a file_server.
	Routes []*Route
	Pos    Pos
}

// Handles reports whether the route is for errors of status.
func (e *ErrorRoute) Handles(status int) bool {
	if len(e.Statuses) == 0 && len(e.Classes) == 0 {
		return true
	}
	return slices.Contains(e.Statuses, status) || slices.Contains(e.Classes, status/100)
}

// ErrorAnswer is Caddy's error directive: answer with an error (through
// handle_errors, if the site has one that handles it).
type ErrorAnswer struct {
	Status  int // default 500
	Message Template
	Pos     Pos
}

// TryFiles is Caddy's try_files: the request's path becomes the first of
// Files that exists under the root (as file_server would find it); if
// none does, the path stays as it was.
type TryFiles struct {
	Files []TryFile
	// Policy is how a file is chosen: first_exist (the default),
	// first_exist_fallback (the last one without looking), largest_size,
	// smallest_size or most_recently_modified.
	Policy string
	// Root is the directory the files are looked up in: the block's root;
	// "" when only a root with a matcher can give one.
	Root string
	Pos  Pos
}

// TryFile is one candidate of try_files.
type TryFile struct {
	// Path is a file path with placeholders ("{path}", "/index.html"); a
	// path ending in "/" must be a directory.
	Path Template
	// Query, when set, is the query the rewrite sets ("?{query}&p={path}"
	// without the '?'); nil keeps the request's.
	Query *Template
	// Status is "=STATUS": answer with this error instead.
	Status int
}

// tryPolicies are try_files' policies.
var tryPolicies = []string{"first_exist", "first_exist_fallback", "largest_size", "smallest_size", "most_recently_modified"}

// tryFiles parses "try_files FILES... [=STATUS] [{ policy P }]".
func tryFiles(n *node, sc *scope) (*TryFiles, error) {
	if err := n.argc(1, -1); err != nil {
		return nil, err
	}
	tf := &TryFiles{Root: sc.root, Pos: n.args[0].pos}
	for _, t := range n.args[1:] {
		if code, ok := strings.CutPrefix(t.text, "="); ok {
			v, err := strconv.Atoi(code)
			if err != nil || v < 400 || v > 599 {
				return nil, errorf(t.pos, "try_files: %q: want =STATUS, an error status 400..599", t.text)
			}
			tf.Files = append(tf.Files, TryFile{Status: v})
			continue
		}
		file, query, hasQuery := strings.Cut(t.text, "?")
		if !strings.HasPrefix(file, "/") && !strings.HasPrefix(file, "{") {
			return nil, errorf(t.pos, "try_files: %q: want a path such as {path}, {path}/ or /index.html", t.text)
		}
		pt, err := parseTemplate(token{text: file, pos: t.pos})
		if err != nil {
			return nil, err
		}
		f := TryFile{Path: pt}
		if hasQuery {
			qt, err := parseTemplate(token{text: query, pos: t.pos})
			if err != nil {
				return nil, err
			}
			f.Query = &qt
		}
		tf.Files = append(tf.Files, f)
	}
	for _, s := range n.block {
		if s.name() != "policy" {
			return nil, unknown(s, "try_files option", []string{"policy"}, nil, "")
		}
		if err := s.simple(1); err != nil {
			return nil, err
		}
		if tf.Policy != "" {
			return nil, errorf(s.args[0].pos, "try_files: policy is set twice")
		}
		p, err := oneOf(s, s.arg(0), "policy", tryPolicies)
		if err != nil {
			return nil, err
		}
		tf.Policy = p
	}
	if tf.Policy == "" {
		tf.Policy = "first_exist"
	}
	return tf, nil
}

// errorDirective parses Caddy's "error [MATCHER] STATUS|MESSAGE [STATUS]
// [{ message TEXT }]" (without its matcher).
func errorDirective(n *node) (*ErrorAnswer, error) {
	if err := n.argc(0, 2); err != nil {
		return nil, err
	}
	e := &ErrorAnswer{Status: 500, Pos: n.args[0].pos}
	args := n.args[1:]
	status := func(t token) error {
		v, err := strconv.Atoi(t.text)
		if err != nil || len(t.text) != 3 || v < 400 || v > 599 {
			return errorf(t.pos, "error: status %q: want an error status 400..599", t.text)
		}
		e.Status = v
		return nil
	}
	switch {
	case len(args) == 1 && isStatus(args[0].text):
		if err := status(args[0]); err != nil {
			return nil, err
		}
	case len(args) >= 1:
		m, err := parseTemplate(args[0])
		if err != nil {
			return nil, err
		}
		e.Message = m
		if len(args) == 2 {
			if err := status(args[1]); err != nil {
				return nil, err
			}
		}
	}
	for _, s := range n.block {
		if s.name() != "message" {
			return nil, unknown(s, "error option", []string{"message"}, nil, "")
		}
		if err := s.simple(1); err != nil {
			return nil, err
		}
		m, err := parseTemplate(s.arg(0))
		if err != nil {
			return nil, err
		}
		e.Message = m
	}
	if len(args) == 0 && len(n.block) == 0 {
		return nil, errorf(n.args[0].pos, "error: want a status or a message")
	}
	return e, nil
}

// handleErrors parses "handle_errors [STATUS|Nxx...] { ... }" with the
// site's scope sc.
func (b *builder) handleErrors(n *node, sc *scope, s *Site) (*ErrorRoute, error) {
	er := &ErrorRoute{Pos: n.args[0].pos}
	for _, t := range n.args[1:] {
		v := strings.ToLower(t.text)
		if len(v) == 3 && v[1:] == "xx" && v[0] >= '1' && v[0] <= '5' {
			er.Classes = append(er.Classes, int(v[0]-'0'))
			continue
		}
		code, err := strconv.Atoi(v)
		if err != nil || len(v) != 3 || code < 100 || code > 599 {
			return nil, errorf(t.pos, "handle_errors: %q: want a status (404) or a class (5xx)", t.text)
		}
		er.Statuses = append(er.Statuses, code)
	}
	if !n.hasBlock {
		return nil, errorf(n.args[0].pos, "handle_errors: want a block of directives that answer the error")
	}
	routes, err := b.block(n.block, sc, s, true)
	if err != nil {
		return nil, err
	}
	arrange(routes, true, &b.groups)
	er.Routes = routes
	return er, nil
}
