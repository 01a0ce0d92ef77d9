package proxy

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tether-proxy/tether/config"
)

// A program is a site's request pipeline (config.Site.Routes), flattened:
// each handle, handle_path and route block is inlined between an op that
// enters it (skipping past it when its matcher fails) and an op that
// leaves it, and every route of a mutually exclusive group jumps past the
// group once it ran. Running it walks the ops once per request, matching
// as it goes, and allocates nothing of its own; handlers that wrap the
// answer (header, encode) call run for the rest and finish after.
//
// The program sees only the *http.Request and http.ResponseWriter, so
// whatever parses requests underneath can change without it.
type program struct {
	ops []op
	// end handles what no route answered (404, or a site's only handler).
	end http.Handler
}

type op struct {
	m *matcher // nil: every request
	h handler  // nil: enter or leave a block
	// skip is where to go when m fails; next where to go after h (or
	// after entering or leaving a block).
	skip, next int
}

// handler is one directive of the pipeline. serve either answers r, or
// hands it on with p.run(w, r, next), possibly with a wrapped w, and
// finishes after that returns.
type handler interface {
	serve(w http.ResponseWriter, r *http.Request, p *program, next int)
}

// run walks the program from op i.
func (p *program) run(w http.ResponseWriter, r *http.Request, i int) {
	for i < len(p.ops) {
		o := &p.ops[i]
		if !o.m.match(r) {
			i = o.skip
			continue
		}
		if o.h == nil {
			i = o.next
			continue
		}
		o.h.serve(w, r, p, o.next)
		return
	}
	p.end.ServeHTTP(w, r)
}

// ServeHTTP runs the whole program.
func (p *program) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.run(w, r, 0) }

// compiler turns routes into ops.
type compiler struct {
	s         *Server
	st        *site
	ops       []op
	trusted   *trustedProxies
	balancers map[*config.Balancer]*Balancer // the site's, started
}

func (c *compiler) balancer(bc *config.Balancer) (*Balancer, error) {
	if b := c.balancers[bc]; b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("%s: balancer %q is not one of the site's", bc.Pos, bc.Name)
}

// compileRoutes appends routes to the program. Routes of one group jump
// to the end of the group once one ran; the ends are patched when known.
func (c *compiler) compileRoutes(routes []*config.Route) error {
	var groupJumps []int // ops whose next is the end of the current group
	group := 0
	closeGroup := func() {
		for _, j := range groupJumps {
			c.ops[j].next = len(c.ops)
		}
		groupJumps, group = nil, 0
	}
	for _, r := range routes {
		if r.Group != group {
			closeGroup()
			group = r.Group
		}
		m, err := c.matcherFor(r)
		if err != nil {
			return err
		}
		if r.Routes != nil || r.Directive == "handle" || r.Directive == "route" || r.Directive == "handle_path" {
			enter := len(c.ops)
			c.ops = append(c.ops, op{m: m, next: enter + 1})
			if err := c.compileRoutes(r.Routes); err != nil {
				return err
			}
			leave := len(c.ops)
			c.ops = append(c.ops, op{next: leave + 1, skip: leave + 1})
			c.ops[enter].skip = leave + 1
			if group != 0 {
				groupJumps = append(groupJumps, leave)
			}
			continue
		}
		h, err := c.handlerFor(r)
		if err != nil {
			return err
		}
		i := len(c.ops)
		c.ops = append(c.ops, op{m: m, h: h, skip: i + 1, next: i + 1})
		if group != 0 {
			groupJumps = append(groupJumps, i)
		}
	}
	closeGroup()
	return nil
}

func (c *compiler) matcherFor(r *config.Route) (*matcher, error) {
	m := compileMatcher(r.Match, c.trusted)
	if r.Directive == "reverse_proxy" && len(r.Balancers) == 1 {
		bc := r.Balancers[0]
		if len(bc.Paths) > 0 || len(bc.Excludes) > 0 {
			if m == nil {
				m = &matcher{}
			}
			m.mount = &mount{include: compilePatterns(bc.Paths), exclude: compilePatterns(bc.Excludes)}
		}
	}
	return m, nil
}

func (c *compiler) handlerFor(r *config.Route) (handler, error) {
	switch {
	case r.Header != nil:
		return headerHandler{newHeaderOps([]*config.Header{r.Header})}, nil
	case r.RequestHeader != nil:
		return requestHeaderHandler{compileHeaderOps(r.RequestHeader.Ops)}, nil
	case r.Redirect != nil:
		return &redirect{cfg: r.Redirect}, nil
	case r.Rewrite != nil:
		return &rewriter{cfg: r.Rewrite}, nil
	case r.BasicAuth != nil:
		return newBasicAuth(r.BasicAuth), nil
	case r.Encode != nil:
		return encodeHandler{newEncoder(r.Encode)}, nil
	case r.Respond != nil:
		return &respondAnswer{cfg: r.Respond}, nil
	case r.Abort:
		return abortHandler{}, nil
	case r.FileServer != nil:
		return terminal{newFileServer(r.FileServer)}, nil
	case r.TryFiles != nil:
		return newTryFiles(r.TryFiles), nil
	case r.Error != nil:
		return errorHandler{r.Error}, nil
	case r.Directive == "root":
		return newRootHandler(r.Root), nil
	case r.Method != "":
		return methodHandler{r.Method}, nil
	case r.CopyResponse != nil:
		return copyResponseHandler{r.CopyResponse}, nil
	case r.CopyResponseHeaders != nil:
		return copyHeadersHandler{r.CopyResponseHeaders}, nil
	case r.Directive == "reverse_proxy" && len(r.Balancers) == 1:
		b, err := c.balancer(r.Balancers[0])
		if err != nil {
			return nil, err
		}
		if len(r.Balancers[0].HandleResponse) == 0 {
			return terminal{siteBalancer{b, c.st}}, nil
		}
		if err := c.intercepts(b, r.Balancers[0]); err != nil {
			return nil, err
		}
		return interceptingProxy{b, c.st}, nil
	case r.Directive == "import_jk":
		jk := &jkMounts{}
		for _, bc := range r.Balancers {
			b, err := c.balancer(bc)
			if err != nil {
				return nil, err
			}
			jk.mounts = append(jk.mounts, mount{include: compilePatterns(bc.Paths), exclude: compilePatterns(bc.Excludes), b: b})
			jk.site = c.st
		}
		return jk, nil
	}
	return nil, errUnknownRoute(r)
}

// intercepts compiles a balancer's handle_response and replace_status;
// each handle_response's routes are a program of their own, whose end
// goes on past the reverse_proxy.
func (c *compiler) intercepts(b *Balancer, bc *config.Balancer) error {
	var hs []*responseHandler
	for _, h := range bc.HandleResponse {
		rh := &responseHandler{cfg: h, match: compileRespMatcher(h.Match)}
		if h.Status == nil {
			saved := c.ops
			c.ops = nil
			if err := c.compileRoutes(h.Routes); err != nil {
				return err
			}
			rh.prog = &program{ops: c.ops, end: continueAfterProxy{}}
			c.ops = saved
		}
		hs = append(hs, rh)
	}
	b.intercepts = hs
	return nil
}

type routeError struct{ r *config.Route }

func (e routeError) Error() string {
	return e.r.Pos.String() + ": " + e.r.Directive + ": nothing to run"
}

func errUnknownRoute(r *config.Route) error { return routeError{r} }

// siteBalancer is a balancer as one site mounts it.
type siteBalancer struct {
	b  *Balancer
	st *site
}

func (h siteBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.b.serve(w, r, h.st) }

// terminal is a handler that always answers.
type terminal struct{ h http.Handler }

func (t terminal) serve(w http.ResponseWriter, r *http.Request, _ *program, _ int) {
	t.h.ServeHTTP(w, r)
}

type abortHandler struct{}

// serve closes the connection without an answer (Caddy's abort).
func (abortHandler) serve(http.ResponseWriter, *http.Request, *program, int) {
	panic(http.ErrAbortHandler)
}

// headerHandler is one header directive.
type headerHandler struct{ ops *headerOps }

func (h headerHandler) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	p.run(h.ops.begin(w, r), r, next)
}

// requestHeaderHandler is one request_header directive: operations on the
// request's header, before it is handled further.
type requestHeaderHandler struct{ ops []headerOp }

func (h requestHeaderHandler) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	for i := range h.ops {
		h.ops[i].apply(r.Header, r, "")
	}
	p.run(w, r, next)
}

type encodeHandler struct{ e *encoder }

func (h encodeHandler) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	w, ew := h.e.begin(w, r)
	defer ew.finish()
	p.run(w, r, next)
}

func (d *redirect) serve(w http.ResponseWriter, r *http.Request, _ *program, _ int) {
	d.answer(w, r)
}

func (d *respondAnswer) serve(w http.ResponseWriter, r *http.Request, _ *program, _ int) {
	d.answer(w, r)
}

func (a *basicAuth) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	if !a.allow(r) {
		a.refuse(w, r)
		return
	}
	p.run(w, r, next)
}

// jkMounts are import_jk's balancers, matched as mod_jk matches them, in
// its order; a request none mounts goes on down the pipeline.
type jkMounts struct {
	mounts []mount
	site   *site
}

func (j *jkMounts) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	path := stripPathParams(r.URL.Path)
	for i := range j.mounts {
		if j.mounts[i].matches(path) {
			j.mounts[i].b.serve(w, r, j.site)
			return
		}
	}
	p.run(w, r, next)
}

// methodHandler is Caddy's method directive: the request goes on with
// another method.
type methodHandler struct{ method string }

func (h methodHandler) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	r.Method = h.method
	p.run(w, r, next)
}

// rewriter is a rewrite or uri directive (and handle_path's prefix): it
// changes the request's URI in place, and the rest of the pipeline, the
// members included, sees the new one.
type rewriter struct{ cfg *config.Rewrite }

func (rw *rewriter) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	rw.apply(r)
	p.run(w, r, next)
}

func (rw *rewriter) apply(r *http.Request) {
	c := rw.cfg
	u := r.URL
	path := u.Path
	switch {
	case c.To != nil:
		to := expand(c.To, r, "")
		newPath, query, hasQuery := strings.Cut(to, "?")
		if newPath != "" {
			path = newPath
		}
		if hasQuery {
			u.RawQuery = query
		}
	case c.StripPrefix != "":
		if len(path) >= len(c.StripPrefix) && strings.EqualFold(path[:len(c.StripPrefix)], c.StripPrefix) {
			path = path[len(c.StripPrefix):]
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
		}
	case c.StripSuffix != "":
		path = strings.TrimSuffix(path, c.StripSuffix)
	case c.PathRegexp != nil:
		path = c.PathRegexp.Re.ReplaceAllString(path, c.Replace)
	case c.Find != "":
		n := c.Limit
		if n == 0 {
			n = -1
		}
		path = strings.Replace(path, c.Find, c.Replace, n)
	}
	if path != u.Path {
		u.Path, u.RawPath = path, ""
	}
}
