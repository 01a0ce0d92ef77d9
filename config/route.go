package config

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Route is one directive of a site or of a handle, handle_path or route
// block, as the request pipeline runs it: Routes run in order, each whose
// Match passes handles the request, until one answers. Of the routes of
// one Group (not 0) only the first that matches runs (Caddy's mutually
// exclusive handle blocks and rewrites).
type Route struct {
	// Directive is the directive's name ("handle_path" for one, though it
	// sorts as handle does).
	Directive string
	// Match is the route's matcher set; nil matches every request.
	// reverse_proxy's own path patterns are on its Balancer.
	Match *Matcher
	Group int

	// Exactly one of these is set, by Directive.
	Header        *Header     // header
	RequestHeader *Header     // request_header
	Redirect      *Redirect   // redir
	Rewrite       *Rewrite    // rewrite, uri, and handle_path's prefix
	BasicAuth     *BasicAuth  // basic_auth
	Encode        *Encode     // encode
	Respond       *Respond    // respond
	Abort         bool        // abort
	Balancers     []*Balancer // reverse_proxy (one); import_jk (its workers, in mod_jk's order)
	FileServer    *FileServer // file_server
	TryFiles      *TryFiles   // try_files
	Error         *ErrorAnswer
	// CopyResponse and CopyResponseHeaders are copy_response and
	// copy_response_headers, in a reverse_proxy's handle_response block.
	CopyResponse        *CopyResponse
	CopyResponseHeaders *CopyResponseHeaders
	// Method is Caddy's method directive: the request's method becomes
	// this one (upper case) for the rest of the pipeline, the members
	// included (X-Accel-Redirect's "method GET" in handle_response).
	Method string
	// Root is a root directive with a matcher: the directory the
	// file_server and try_files of the requests it matches use. (A root
	// without one is the block's: it is on those directives themselves.)
	Root string
	// Routes are a handle, handle_path or route block's, arranged.
	Routes []*Route

	Pos Pos
}

// Rewrite is an internal rewrite of the request's URI: Caddy's rewrite
// (To) and uri (StripPrefix, StripSuffix, Replace, PathRegexp).
type Rewrite struct {
	// To is rewrite's target, "/path[?query]" with placeholders. Without
	// a '?' the query stays as it was.
	To *Template
	// StripPrefix and StripSuffix remove a literal prefix or suffix of
	// the path (handle_path strips its path's prefix, without the *).
	StripPrefix, StripSuffix string
	// Find and Replace replace occurrences in the path; Limit bounds how
	// many (0: all).
	Find, Replace string
	Limit         int
	// PathRegexp replaces the path's matches of Regexp with Replace
	// (with $1 references).
	PathRegexp *NamedRegexp
	Pos        Pos
}

// directiveOrder is Caddy's order of the directives of a block, which the
// pipeline runs them in regardless of the order written (a route block
// keeps its own). import_jk sorts as reverse_proxy.
var directiveOrder = []string{
	"root", "header", "copy_response_headers", "request_body", "redir", "method", "rewrite", "uri", "try_files",
	"basic_auth", "forward_auth", "request_header", "encode", "templates",
	"handle", "route", "abort", "error", "copy_response", "respond", "metrics", "reverse_proxy",
	"php_fastcgi", "file_server",
}

func orderOf(directive string) int {
	switch directive {
	case "handle_path":
		directive = "handle"
	case "basicauth":
		directive = "basic_auth"
	case "import_jk":
		directive = "reverse_proxy"
	case "uri_rewrite":
		directive = "uri"
	}
	if i := slices.Index(directiveOrder, directive); i >= 0 {
		return i
	}
	return len(directiveOrder)
}

// sortPath is the path Caddy's ordering compares for r: its matcher's only
// path, or reverse_proxy's only path pattern.
func (r *Route) sortPath() string {
	if p := r.Match.SinglePath(); p != "" {
		return p
	}
	if r.Directive == "reverse_proxy" && r.Match == nil && len(r.Balancers) == 1 {
		if b := r.Balancers[0]; len(b.Paths) == 1 && len(b.Excludes) == 0 {
			return b.Paths[0]
		}
	}
	return ""
}

func (r *Route) hasMatcher() bool {
	if r.Match != nil {
		return true
	}
	if r.Directive == "reverse_proxy" && len(r.Balancers) == 1 {
		b := r.Balancers[0]
		return len(b.Excludes) > 0 || len(b.Paths) > 0 && !(len(b.Paths) == 1 && (b.Paths[0] == "*" || b.Paths[0] == "/*"))
	}
	return false
}

// arrange puts a block's routes in Caddy's order (when sorted: directive
// order, then, within one directive, the longer single path first, a path
// before the same path with a trailing *, a matcher before none, else as
// written) and groups the mutually exclusive ones: every handle and
// handle_path of the block when there are several, and its rewrites
// always. next numbers groups across the whole configuration.
func arrange(routes []*Route, sorted bool, next *int) {
	if sorted {
		sort.SliceStable(routes, func(i, j int) bool {
			a, b := routes[i], routes[j]
			oa, ob := orderOf(a.Directive), orderOf(b.Directive)
			if oa != ob {
				return oa < ob
			}
			pa, pb := a.sortPath(), b.sortPath()
			if pa == "" && pb == "" {
				return a.hasMatcher() && !b.hasMatcher()
			}
			ta, tb := strings.TrimSuffix(pa, "*"), strings.TrimSuffix(pb, "*")
			if ta == tb && pa != "" && pb != "" {
				return len(pa) < len(pb) // "/foo" before "/foo*"
			}
			return len(pa) > len(pb)
		})
	}
	counts := map[int]int{}
	for _, r := range routes {
		switch orderOf(r.Directive) {
		case orderOf("handle"), orderOf("rewrite"):
			counts[orderOf(r.Directive)]++
		}
	}
	groups := map[int]int{}
	// In directive order, so that group numbers do not depend on map order.
	for _, ord := range []int{orderOf("rewrite"), orderOf("handle")} {
		if n := counts[ord]; n > 1 || ord == orderOf("rewrite") && routesHave(routes, "rewrite") {
			*next++
			groups[ord] = *next
		}
	}
	for _, r := range routes {
		if g, ok := groups[orderOf(r.Directive)]; ok && (r.Directive != "uri" && r.Directive != "uri_rewrite") {
			r.Group = g
		}
	}
}

func routesHave(routes []*Route, directive string) bool {
	return slices.ContainsFunc(routes, func(r *Route) bool { return r.Directive == directive })
}

// scope is what a block's directives see: the named matchers defined in
// it and around it, and the root its file_server uses.
type scope struct {
	matchers map[string]*Matcher
	root     string
	host     string // for balancer default names
	// inResponse: the block is (in) a reverse_proxy's handle_response,
	// where copy_response and copy_response_headers may be.
	inResponse bool
}

// siteOnly are the directives of a site block that cannot go in a handle,
// handle_path or route block.
var siteOnly = []string{"trusted_proxies", "proxy_protocol", "tls", "access_log", "log", "import_jk", "limits", "allow_methods", "request_body", "handle_errors"}

// blockDirectives are those of handle, handle_path and route blocks (and
// of the site's pipeline).
var blockDirectives = []string{"header", "request_header", "redir", "rewrite", "uri", "method", "basic_auth", "basicauth", "encode",
	"handle", "handle_path", "route", "abort", "respond", "reverse_proxy", "file_server", "root", "try_files", "error",
	"copy_response", "copy_response_headers"}

// Caddy's directives Tether does not have, by kind, so that a pasted
// Caddyfile gets a plain answer: one of Caddy's own (caddyUnsupported),
// Caddy v1's (caddyV1), a known plugin's (caddyPlugins, with its module),
// or, for any other name, probably a plugin's (caddyDirectiveError).

// caddyUnsupported are Caddy's standard directives Tether does not have,
// with what to do instead.
var caddyUnsupported = map[string]string{
	"php_fastcgi":  "FastCGI to PHP-FPM is not supported; proxy to a PHP server over HTTP",
	"templates":    "server-side templates are not supported",
	"forward_auth": "not supported yet; basic_auth, or authentication in the members",
	"metrics":      "Tether serves /metrics on its admin listener",
	"push":         "HTTP/2 server push is not supported (browsers dropped it)",
	"acme_server":  "Tether is not an ACME server",
	"map":          "not supported",
	"vars":         "not supported",
	"invoke":       "named routes are not supported",
	"intercept":    "intercepting answers is not supported; reverse_proxy's handle_response intercepts a member's",
	"tracing":      "OpenTelemetry tracing is not supported",
	"fs":           "file systems other than the local disk are not supported",
	"bind":         "give the IP in the site address (http://10.0.0.1:8080): that is the address Tether listens on",
	"log_append":   "the access log's fields are fixed",
	"log_skip":     "every request is logged",
	"skip_log":     "every request is logged",
	"log_name":     "a site has one access log",
}

// caddyV1 are Caddy v1's directives that Caddy 2 replaced.
var caddyV1 = map[string]string{
	"gzip":      "Caddy 2 and Tether spell it encode gzip",
	"proxy":     "Caddy 2 and Tether spell it reverse_proxy",
	"browse":    "Caddy 2 and Tether spell it file_server browse",
	"ext":       "Caddy 2 writes try_files {path} {path}.html",
	"markdown":  "Caddy 2 dropped it",
	"errors":    "Caddy 2 and Tether spell it handle_errors",
	"internal":  "Caddy 2 writes a matcher with respond or abort",
	"expires":   "Caddy 2 and Tether write header Cache-Control",
	"fastcgi":   "Caddy 2 spells it php_fastcgi, which Tether does not have",
	"ipfilter":  "use a remote_ip matcher with respond 403 or abort",
	"ratelimit": "see limits; Caddy 2's rate_limit is a plugin",
	"status":    "Caddy 2 and Tether spell it respond",
	"timeouts":  "Caddy 2 writes servers { timeouts }, Tether limits",
	"websocket": "reverse_proxy passes WebSocket upgrades",
	"startup":   "Caddy 2 dropped it",
	"shutdown":  "Caddy 2 dropped it",
	"mime":      "Caddy 2 writes header Content-Type",
}

// caddyPlugins are directives of well-known Caddy plugins: the plugin's
// module, and after "; " what Tether has instead.
var caddyPlugins = map[string]string{
	"rate_limit":     "github.com/mholt/caddy-ratelimit; Tether has no rate limiting",
	"cache":          "github.com/caddyserver/cache-handler",
	"crowdsec":       "github.com/hslatman/caddy-crowdsec-bouncer",
	"appsec":         "github.com/hslatman/caddy-crowdsec-bouncer",
	"security":       "github.com/greenpau/caddy-security",
	"authenticate":   "github.com/greenpau/caddy-security",
	"authorize":      "github.com/greenpau/caddy-security",
	"coraza_waf":     "github.com/corazawaf/coraza-caddy",
	"waf":            "a WAF plugin",
	"forward_proxy":  "github.com/caddyserver/forwardproxy",
	"replace":        "github.com/caddyserver/replace-response",
	"webdav":         "github.com/mholt/caddy-webdav",
	"cgi":            "github.com/aksdb/caddy-cgi",
	"exec":           "github.com/abiosoft/caddy-exec",
	"mercure":        "github.com/dunglas/mercure",
	"vulcain":        "github.com/dunglas/vulcain",
	"php_server":     "github.com/dunglas/frankenphp",
	"php":            "github.com/dunglas/frankenphp",
	"jwtauth":        "github.com/ggicci/caddy-jwt",
	"jwt":            "a JWT plugin",
	"defender":       "github.com/JasonLovesDoggo/caddy-defender",
	"sablier":        "github.com/sablierapp/sablier",
	"geoip":          "a GeoIP plugin",
	"realip":         "a real-IP plugin; Tether's trusted_proxies does what it does",
	"cors":           "a CORS plugin; set the Access-Control-* fields with header",
	"git":            "github.com/greenpau/caddy-git",
	"hugo":           "a Hugo plugin",
	"tailscale_auth": "github.com/tailscale/caddy-tailscale",
	"souin":          "github.com/darkweak/souin",
	"s3proxy":        "github.com/lindenlab/caddy-s3-proxy",
	"request_id":     "github.com/lolPants/caddy-requestid; Tether's error pages carry a request id ({err.id})",
	"umami":          "github.com/jonaharagon/caddy-umami",
}

// caddyStandard are Caddy 2's standard site directives (caddyserver.com/
// docs/caddyfile/directives): a name outside them is a plugin's.
var caddyStandard = []string{"abort", "acme_server", "basic_auth", "basicauth", "bind", "encode", "error", "file_server",
	"forward_auth", "fs", "handle", "handle_errors", "handle_path", "header", "import", "intercept", "invoke", "log",
	"log_append", "log_skip", "log_name", "skip_log", "map", "method", "metrics", "php_fastcgi", "push", "redir",
	"request_body", "request_header", "respond", "reverse_proxy", "rewrite", "root", "route", "templates", "tls",
	"tracing", "try_files", "uri", "vars"}

// caddyDirectiveError explains a site directive Tether does not have.
func caddyDirectiveError(n *node) error {
	name, at := n.name(), n.args[0].pos
	switch {
	case caddyUnsupported[name] != "":
		return errorf(at, "%s is Caddy's, not supported by Tether: %s", name, caddyUnsupported[name])
	case caddyV1[name] != "":
		return errorf(at, "%s is Caddy v1's: %s", name, caddyV1[name])
	case caddyPlugins[name] != "":
		mod, hint, _ := strings.Cut(caddyPlugins[name], "; ")
		if hint != "" {
			hint = "; " + hint
		}
		return errorf(at, "%s is a Caddy plugin (%s), not part of Tether%s", name, mod, hint)
	case !slices.Contains(caddyStandard, name) && !slices.Contains(globalOptions, name) && !strings.HasPrefix(name, "@"):
		return errorf(at, "unknown directive %q: not one of Caddy's standard directives, so a Caddy plugin's or a typo; Tether has no plugins (its directives: %s)", name, strings.Join(siteDirectives, ", "))
	}
	return unknown(n, "directive", siteDirectives, globalOptions, "the global options block")
}

// matcherToken takes a leading matcher argument off a directive: "@name"
// (defined in sc), "*" (every request), and, when paths is set, an inline
// path ("/api/*"). It returns the directive without it.
func (b *builder) matcherToken(n *node, sc *scope, paths bool) (*Matcher, *node, error) {
	if n.nargs() == 0 {
		return nil, n, nil
	}
	t := n.arg(0)
	if t.kind != tokWord {
		return nil, n, nil
	}
	rest := &node{args: append([]token{n.args[0]}, n.args[2:]...), hasBlock: n.hasBlock, block: n.block, open: n.open}
	switch {
	case strings.HasPrefix(t.text, "@"):
		m, ok := sc.matchers[t.text]
		if !ok {
			return nil, nil, errorf(t.pos, "%s: no matcher named %s is defined in this block or around it", n.name(), t.text)
		}
		return m, rest, nil
	case t.text == "*":
		return nil, rest, nil
	case paths && strings.HasPrefix(t.text, "/"):
		return &Matcher{Paths: []string{t.text}, Pos: t.pos}, rest, nil
	}
	return nil, n, nil
}

// block builds the routes of a site body or of a handle, handle_path or
// route block, unarranged. Site-level directives are the caller's; the
// named matchers are collected first, so a directive may use one defined
// below it.
func (b *builder) block(body []*node, outer *scope, s *Site, nested bool) ([]*Route, error) {
	sc, err := b.scopeOf(body, outer)
	if err != nil {
		return nil, err
	}
	var routes []*Route
	unmatched := map[string]Pos{} // encode and file_server without a matcher
	var rootAt *Pos
	for _, n := range body {
		name := n.name()
		if name == "root" {
			if r, err := b.matchedRoot(n, sc); err != nil || r != nil {
				if err != nil {
					return nil, err
				}
				routes = append(routes, r)
				continue
			}
			rootAt = &n.args[0].pos
		}
		if strings.HasPrefix(name, "@") || name == "root" {
			continue
		}
		if slices.Contains(siteOnly, name) {
			if nested {
				return nil, errorf(n.args[0].pos, "%s belongs in the site block, not in a handle, handle_path or route block", name)
			}
			continue // the site's own
		}
		r, err := b.route(n, sc, s)
		if err != nil {
			return nil, err
		}
		if (name == "encode" || name == "file_server") && r.Match == nil {
			if prev, dup := unmatched[name]; dup {
				return nil, errorf(r.Pos, "%s is set twice (first at %s); give one a matcher", name, prev)
			}
			unmatched[name] = r.Pos
		}
		routes = append(routes, r)
	}
	if rootAt != nil && !hasFileServer(routes) && !(s.ImportJK != nil && !nested) {
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: *rootAt, Msg: "root: no file_server or try_files in this block uses it"})
	}
	return routes, nil
}

// matchedRoot returns the route of "root MATCHER DIR" (a path or a named
// matcher), or nil for "root DIR" and "root * DIR", which are the block's
// (scopeOf).
func (b *builder) matchedRoot(n *node, sc *scope) (*Route, error) {
	if n.nargs() != 2 || n.arg(0).text == "*" {
		return nil, nil
	}
	m, rest, err := b.matcherToken(n, sc, true)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errorf(n.arg(0).pos, "root: %q is not a matcher (want root [* | /path | @name] DIR)", n.arg(0).text)
	}
	if err := rest.simple(1); err != nil {
		return nil, err
	}
	dir, err := nonEmpty(rest, rest.arg(0))
	if err != nil {
		return nil, err
	}
	return &Route{Directive: "root", Match: m, Root: dir, Pos: n.args[0].pos}, nil
}

// scopeOf is what the directives of body see: the named matchers defined
// in it and around it, and its root without a matcher.
func (b *builder) scopeOf(body []*node, outer *scope) (*scope, error) {
	sc := &scope{matchers: map[string]*Matcher{}, root: outer.root, host: outer.host, inResponse: outer.inResponse}
	for k, v := range outer.matchers {
		sc.matchers[k] = v
	}
	local := map[string]Pos{}
	for _, n := range body {
		if !strings.HasPrefix(n.name(), "@") {
			continue
		}
		if prev, dup := local[n.name()]; dup {
			return nil, errorf(n.args[0].pos, "matcher %s is defined twice (first at %s)", n.name(), prev)
		}
		local[n.name()] = n.args[0].pos
		m, err := b.matcherDef(n)
		if err != nil {
			return nil, err
		}
		sc.matchers[n.name()] = m
	}
	// root applies to the block's file_servers, wherever it is written.
	var rootSet *token
	for _, n := range body {
		if n.name() != "root" {
			continue
		}
		if err := n.argc(1, 2); err != nil {
			return nil, err
		}
		if err := n.noBlock(); err != nil {
			return nil, err
		}
		if n.nargs() == 2 && n.arg(0).text != "*" {
			continue // a root with a matcher: a route of its own
		}
		if rootSet != nil {
			return nil, errorf(n.args[0].pos, "root is set twice in this block (first at %s); give one a matcher", rootSet.pos)
		}
		rootSet = &n.args[0]
		sc.root = n.args[n.nargs()].text
	}
	return sc, nil
}

// route builds one pipeline directive.
func (b *builder) route(n *node, sc *scope, s *Site) (*Route, error) {
	name := n.name()
	r := &Route{Directive: name, Pos: n.args[0].pos}
	if name == "basicauth" {
		r.Directive = "basic_auth"
	}
	var err error
	switch name {
	case "header", "request_header":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		var h *Header
		if h, err = header(n); err != nil {
			return nil, err
		}
		if name == "header" {
			r.Header = h
			s.Headers = append(s.Headers, h)
		} else {
			for i, op := range h.Ops {
				if op.Op == "delete" || op.Op == "default" {
					// header defers these for answers; a request's are applied at once.
					h.Ops[i].Deferred = false
					continue
				}
				if op.Deferred {
					return nil, errorf(op.Pos, "request_header: defer and > are for answers (header), not requests")
				}
			}
			r.RequestHeader = h
		}
	case "redir":
		if r.Match, n, err = b.matcherToken(n, sc, false); err != nil {
			return nil, err
		}
		if r.Redirect, err = redir(n); err != nil {
			return nil, err
		}
		r.Match = pathOr(r.Match, r.Redirect.Path, r.Redirect.Pos)
		s.Redirects = append(s.Redirects, r.Redirect)
	case "respond":
		if r.Match, n, err = b.matcherToken(n, sc, false); err != nil {
			return nil, err
		}
		if r.Respond, err = respond(n); err != nil {
			return nil, err
		}
		r.Match = pathOr(r.Match, r.Respond.Path, r.Respond.Pos)
		s.Responds = append(s.Responds, r.Respond)
	case "basic_auth", "basicauth":
		if r.Match, n, err = b.matcherToken(n, sc, false); err != nil {
			return nil, err
		}
		if r.BasicAuth, err = basicAuth(n); err != nil {
			return nil, err
		}
		r.Match = pathOr(r.Match, r.BasicAuth.Path, r.BasicAuth.Pos)
		s.BasicAuths = append(s.BasicAuths, r.BasicAuth)
	case "encode":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		if r.Encode, err = encode(n); err != nil {
			return nil, err
		}
		if s.Encode == nil {
			s.Encode = r.Encode
		}
	case "rewrite":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		r.Rewrite, err = rewrite(n)
	case "uri":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		r.Rewrite, err = uriDirective(n)
	case "method":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		if err = n.simple(1); err == nil {
			r.Method = strings.ToUpper(n.arg(0).text)
			if !validMethod(r.Method) {
				err = errorf(n.arg(0).pos, "method: %q is not a method (a token such as GET or POST)", n.arg(0).text)
			}
		}
	case "abort":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		err = n.simple(0)
		r.Abort = true
	case "handle", "route":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		if err = n.argc(0, 0); err != nil {
			return nil, err
		}
		if r.Routes, err = b.block(n.block, sc, s, true); err != nil {
			return nil, err
		}
		arrange(r.Routes, name == "handle", &b.groups)
	case "handle_path":
		if err = n.argc(1, 1); err != nil {
			return nil, err
		}
		p := n.arg(0)
		if !strings.HasPrefix(p.text, "/") {
			return nil, errorf(p.pos, "handle_path: want a path prefix such as /api/* (named matchers cannot say what to strip)")
		}
		r.Match = &Matcher{Paths: []string{p.text}, Pos: p.pos}
		strip := &Route{Directive: "uri", Pos: p.pos, Rewrite: &Rewrite{StripPrefix: strings.TrimSuffix(p.text, "*"), Pos: p.pos}}
		strip.Rewrite.StripPrefix = strings.TrimSuffix(strip.Rewrite.StripPrefix, "/")
		var inner []*Route
		if inner, err = b.block(n.block, sc, s, true); err != nil {
			return nil, err
		}
		arrange(inner, true, &b.groups)
		r.Routes = append([]*Route{strip}, inner...)
	case "reverse_proxy":
		if r.Match, n, err = b.matcherToken(n, sc, false); err != nil {
			return nil, err
		}
		b.proxies[sc.host]++
		var bal *Balancer
		if bal, err = b.reverseProxy(n, sc.host+"-"+strconv.Itoa(b.proxies[sc.host]), sc, s); err != nil {
			return nil, err
		}
		r.Balancers = []*Balancer{bal}
		s.Balancers = append(s.Balancers, bal)
	case "file_server":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		if r.FileServer, err = fileServer(n); err != nil {
			return nil, err
		}
		if r.FileServer.Root == "" {
			r.FileServer.Root = sc.root
		}
	case "try_files":
		r.TryFiles, err = tryFiles(n, sc)
	case "error":
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		r.Error, err = errorDirective(n)
	case "copy_response", "copy_response_headers":
		if !sc.inResponse {
			return nil, errorf(n.args[0].pos, "%s belongs in a reverse_proxy's handle_response block (it copies the member's answer there)", name)
		}
		if r.Match, n, err = b.matcherToken(n, sc, true); err != nil {
			return nil, err
		}
		if name == "copy_response" {
			r.CopyResponse, err = copyResponse(n)
		} else {
			r.CopyResponseHeaders, err = copyResponseHeaders(n)
		}
	default:
		return nil, caddyDirectiveError(n)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// pathOr is m, or, when the directive parsed an inline path itself, a
// matcher of that path.
func pathOr(m *Matcher, path string, p Pos) *Matcher {
	if path == "" {
		return m
	}
	return &Matcher{Paths: []string{path}, Pos: p}
}

// rewrite parses "rewrite TO": TO is "/path[?query]" or "?query", with
// placeholders.
func rewrite(n *node) (*Rewrite, error) {
	if err := n.simple(1); err != nil {
		return nil, err
	}
	t := n.arg(0)
	if !strings.HasPrefix(t.text, "/") && !strings.HasPrefix(t.text, "?") && !strings.HasPrefix(t.text, "{") {
		return nil, errorf(t.pos, "rewrite: target %q: want /path[?query] or ?query (a rewrite stays on this site; redir sends the client elsewhere)", t.text)
	}
	to, err := parseTemplate(t)
	if err != nil {
		return nil, err
	}
	return &Rewrite{To: &to, Pos: t.pos}, nil
}

// uriDirective parses Caddy's
//
//	uri strip_prefix PREFIX | strip_suffix SUFFIX | replace FIND REPLACE [LIMIT] | path_regexp RE REPLACE
func uriDirective(n *node) (*Rewrite, error) {
	if err := n.argc(2, 4); err != nil {
		return nil, err
	}
	if err := n.noBlock(); err != nil {
		return nil, err
	}
	rw := &Rewrite{Pos: n.args[0].pos}
	op, args := n.arg(0), n.args[2:]
	want := func(k int) error {
		if len(args) != k {
			return errorf(op.pos, "uri %s: want %d argument(s), got %d", op.text, k, len(args))
		}
		return nil
	}
	switch op.text {
	case "strip_prefix":
		if err := want(1); err != nil {
			return nil, err
		}
		rw.StripPrefix = args[0].text
		if !strings.HasPrefix(rw.StripPrefix, "/") {
			rw.StripPrefix = "/" + rw.StripPrefix // Caddy adds the slash too
		}
	case "strip_suffix":
		if err := want(1); err != nil {
			return nil, err
		}
		rw.StripSuffix = args[0].text
	case "replace":
		if len(args) < 2 || len(args) > 3 {
			return nil, errorf(op.pos, "uri replace: want FIND REPLACE [LIMIT]")
		}
		rw.Find, rw.Replace = args[0].text, args[1].text
		if rw.Find == "" {
			return nil, errorf(args[0].pos, "uri replace: empty FIND")
		}
		if len(args) == 3 {
			v, err := strconv.Atoi(args[2].text)
			if err != nil || v < 0 {
				return nil, errorf(args[2].pos, "uri replace: limit %q: want a count (0 for all)", args[2].text)
			}
			rw.Limit = v
		}
	case "path_regexp":
		if err := want(2); err != nil {
			return nil, err
		}
		re, err := regexp.Compile(args[0].text)
		if err != nil {
			return nil, errorf(args[0].pos, "uri path_regexp: %v", err)
		}
		rw.PathRegexp = &NamedRegexp{Pattern: args[0].text, Re: re}
		rw.Replace = args[1].text
	case "query":
		return nil, errorf(op.pos, "uri query is not supported yet; rewrite ?QUERY sets the query")
	default:
		return nil, errorf(op.pos, "uri: unknown operation %q (want strip_prefix, strip_suffix, replace or path_regexp)", op.text)
	}
	return rw, nil
}

// validMethod reports whether m is an HTTP method token (RFC 9110 5.6.2).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func hasFileServer(routes []*Route) bool {
	for _, r := range routes {
		if r.FileServer != nil || r.TryFiles != nil || hasFileServer(r.Routes) {
			return true
		}
	}
	return false
}

// hasMatchedRoot reports whether routes (or a block among them) have a
// root with a matcher, which may give a root at run time.
func hasMatchedRoot(routes []*Route) bool {
	for _, r := range routes {
		if r.Directive == "root" || hasMatchedRoot(r.Routes) {
			return true
		}
	}
	return false
}
