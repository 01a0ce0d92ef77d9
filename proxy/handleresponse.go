package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"github.com/tether-proxy/tether/config"
)

// Caddy's "intercepting responses": a reverse_proxy's handle_response
// and replace_status take the member's answers their response matcher
// passes. replace_status changes the answer's status and lets it pass;
// handle_response answers the original request with its own routes
// instead (copy_response writes the member's answer after all,
// copy_response_headers adds its header fields), and when they answer
// nothing the request goes on past the reverse_proxy, as in Caddy.
//
// The answer is taken in the reverse proxy's ModifyResponse, after the
// roundTrip counted it for passive health (a member's intercepted 5xx is
// still its answer for fail_on_status) and before header_down: the
// matcher sees the member's own header fields. ModifyResponse returns
// errIntercepted with the answer's body kept aside, and the balancer's
// error handler runs the routes.

// responseHandler is a compiled config.ResponseHandler.
type responseHandler struct {
	cfg   *config.ResponseHandler
	match *respMatcher
	prog  *program // handle_response's routes; nil for replace_status
}

// errIntercepted is ModifyResponse's way to hand a member's answer to a
// handle_response block (the reverse proxy passes it to the error
// handler).
var errIntercepted = errors.New("answer intercepted by handle_response")

// interception is the member's answer a handle_response block handles.
type interception struct {
	resp *http.Response
	body io.ReadCloser // the answer's body, which the reverse proxy does not close
	b    *Balancer
	h    *responseHandler
	// copied: copy_response wrote the answer (the body is consumed).
	copied bool
}

// interceptedKey holds the *interception of a handle_response block in
// the context of the request its routes handle.
type interceptedKey struct{}

// interceptionOf returns r's interception, or nil outside a
// handle_response block.
func interceptionOf(r *http.Request) *interception {
	ic, _ := r.Context().Value(interceptedKey{}).(*interception)
	return ic
}

// interceptedOf returns the member's answer r's handle_response block
// handles, or nil.
func interceptedOf(r *http.Request) *http.Response {
	if ic := interceptionOf(r); ic != nil {
		return ic.resp
	}
	return nil
}

// keptBody is the body of an intercepted answer as the reverse proxy
// sees it: its Close (which the reverse proxy calls before its error
// handler) leaves the real body open for the routes.
type keptBody struct{ io.ReadCloser }

func (keptBody) Close() error { return nil }

// intercept decides what happens to a member's answer: nil to let it pass
// (its status replaced by a replace_status), errIntercepted when a
// handle_response block takes it (st.intercept says which).
func (b *Balancer) intercept(resp *http.Response, st *reqState) error {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil // an upgrade is a connection, not an answer
	}
	for _, h := range b.intercepts {
		if !h.match.match(resp.StatusCode, resp.Header) {
			continue
		}
		if h.prog == nil {
			if code, ok := statusOf(h.cfg.Status, st.in, resp); ok {
				resp.StatusCode = code
				resp.Status = strconv.Itoa(code) + " " + http.StatusText(code)
			} else if e := b.log.Debug(); e.Enabled() {
				e.Str("status", h.cfg.Status.Raw).Msg("replace_status: not a status; the member's stands")
			}
			return nil
		}
		st.intercept = &interception{resp: resp, body: resp.Body, b: b, h: h}
		resp.Body = keptBody{resp.Body}
		return errIntercepted
	}
	return nil
}

// statusOf is a status template's value for r (with the member's answer
// resp for {rp.*}): a code 100..599.
func statusOf(t *config.Template, r *http.Request, resp *http.Response) (int, bool) {
	s := t.Raw
	if !t.Static() {
		if interceptedOf(r) == nil {
			r = r.WithContext(context.WithValue(r.Context(), interceptedKey{}, &interception{resp: resp}))
		}
		s = expand(t, r, "")
	}
	code, err := strconv.Atoi(strings.TrimSpace(s))
	return code, err == nil && code >= 100 && code <= 599
}

// handleIntercepted runs the handle_response block that took r's member
// answer; the reverse proxy's error handler calls it for errIntercepted.
func (b *Balancer) handleIntercepted(w http.ResponseWriter, r *http.Request, st *reqState) {
	ic := st.intercept
	defer ic.body.Close()
	ir := r.WithContext(context.WithValue(r.Context(), interceptedKey{}, ic))
	if r.Body != nil && r.Body != http.NoBody {
		// The member consumed the body: the routes see none (a
		// reverse_proxy among them gets an empty body, not a torn one).
		ir.Body, ir.ContentLength = http.NoBody, 0
		ir.Header = r.Header.Clone()
		ir.Header.Del("Content-Length")
		ir.Header.Del("Transfer-Encoding")
		ir.TransferEncoding = nil
	}
	ic.h.prog.ServeHTTP(w, ir)
}

// continuation is where the site's pipeline goes on after a reverse_proxy
// whose handle_response routes answered nothing.
type continuation struct {
	p    *program
	next int
}

type continuationKey struct{}

// interceptingProxy is a reverse_proxy with handle_response blocks: it
// notes where the pipeline goes on, for routes that answer nothing.
type interceptingProxy struct {
	b  *Balancer
	st *site // the site the request came through (see Balancer.serve)
}

func (ip interceptingProxy) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	ip.b.serve(w, r.WithContext(context.WithValue(r.Context(), continuationKey{}, &continuation{p: p, next: next})), ip.st)
}

// continueAfterProxy is the end of a handle_response block's program:
// the request goes on past the reverse_proxy (to the site's end, a 404,
// when nothing follows; Caddy writes an empty 200 there).
type continueAfterProxy struct{}

func (continueAfterProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c, ok := r.Context().Value(continuationKey{}).(*continuation); ok {
		c.p.run(w, r, c.next)
		return
	}
	notFound{}.ServeHTTP(w, r)
}

// copyResponseHandler is copy_response: the member's answer is written as
// it is (header_down applied), with the configured status if any.
type copyResponseHandler struct{ cfg *config.CopyResponse }

func (c copyResponseHandler) serve(w http.ResponseWriter, r *http.Request, _ *program, _ int) {
	ic := interceptionOf(r)
	if ic == nil || ic.copied {
		// The config allows copy_response only in handle_response; a
		// second one has nothing left to copy.
		serveError(w, r, http.StatusInternalServerError, "copy_response: no member answer to copy")
		return
	}
	ic.copied = true
	resp := ic.resp
	status := resp.StatusCode
	if c.cfg.Status != nil {
		code, ok := statusOf(c.cfg.Status, r, resp)
		if !ok {
			serveError(w, r, http.StatusInternalServerError, "copy_response: the status is not a status code")
			return
		}
		status = code
	}
	for i := range ic.b.headerDown {
		ic.b.headerDown[i].apply(resp.Header, resp.Request, resp.Request.URL.Host)
	}
	h := w.Header()
	for k, vs := range resp.Header {
		for _, v := range vs {
			h.Add(k, v) // added to what the block set, as Caddy's copy
		}
	}
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(status)
	if err := copyFlushing(w, ic.body, resp.ContentLength < 0 || ic.b.cfg.FlushInterval < 0); err != nil {
		panic(http.ErrAbortHandler) // the answer is under way: only cutting it says it is incomplete
	}
	for k, vs := range resp.Trailer {
		for _, v := range vs {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
}

// copyBufs are copy_response's buffers.
var copyRespBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyFlushing copies src to w, flushing after every write when flush is
// set (an answer of unknown length streams, as the reverse proxy's).
func copyFlushing(w http.ResponseWriter, src io.Reader, flush bool) error {
	bp := copyRespBufs.Get().(*[]byte)
	defer copyRespBufs.Put(bp)
	buf := *bp
	rc := http.NewResponseController(w)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// copyHeadersHandler is copy_response_headers: the member's header
// fields (all, the included, or all but the excluded) are added to the
// answer, and the routes go on.
type copyHeadersHandler struct{ cfg *config.CopyResponseHeaders }

func (c copyHeadersHandler) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	if ic := interceptionOf(r); ic != nil {
		h := w.Header()
		for k, vs := range ic.resp.Header {
			if len(c.cfg.Include) > 0 && !containsString(c.cfg.Include, k) || containsString(c.cfg.Exclude, k) {
				continue
			}
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	p.run(w, r, next)
}

// respMatcher is a compiled response matcher (config.ResponseMatcher).
type respMatcher struct {
	cfg     *config.ResponseMatcher
	headers []fieldMatch
}

func compileRespMatcher(c *config.ResponseMatcher) *respMatcher {
	if c == nil {
		return nil
	}
	m := &respMatcher{cfg: c}
	for _, h := range c.Headers {
		m.headers = append(m.headers, fieldMatch{field: textproto.CanonicalMIMEHeaderKey(h.Field), values: h.Values, absent: h.Absent})
	}
	return m
}

// match reports whether an answer with this status and header passes;
// a nil matcher passes every answer.
func (m *respMatcher) match(code int, h http.Header) bool {
	if m == nil {
		return true
	}
	if !m.cfg.MatchesStatus(code) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].matchHeader(h) {
			return false
		}
	}
	return true
}
