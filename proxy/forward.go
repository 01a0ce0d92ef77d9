package proxy

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tether-proxy/tether/proxy/h1"
)

// The forwarder: what httputil.ReverseProxy does for a request, done for
// the requests most traffic is made of (no body, no upgrade, members
// reached over plain HTTP/1.1 by proxy/h1) without its per-request costs:
// the deep copy of the request and its header fields (here the outbound
// fields share the inbound values, in a pooled map), the client trace and
// its closures for 1xx answers (here the exchange's context takes them,
// h1.Informational), and the copy of the answer's fields (here the
// answer's slices are handed over). Every step is ReverseProxy's, in its
// order, and the rest of the request's path (rewrite, roundTrip,
// modifyResponse, proxyError) is the same code; TestForwardLikeReverseProxy
// holds the two side by side on what members and clients see.

// forwards reports whether serve may send r through forward: a request
// with no body (a Content-Length of 0, which is how ReverseProxy tells:
// HTTP/2 gives a request that ended with its HEADERS a Body of its own), no trailers and no protocol upgrade, to a balancer whose
// members all speak HTTP/1.1 through proxy/h1 (so retries stay on it) and
// whose flush_interval is the default or -1. (A header_up replace edits
// values in place, which forward shares with the inbound request.)
func (b *Balancer) forwards(r *http.Request, st *reqState) bool {
	return st.set.allH1 && !st.grpc && !b.upReplaces && r.ContentLength == 0 &&
		len(r.Trailer) == 0 && r.Header["Upgrade"] == nil && b.cfg.FlushInterval <= 0 && !noForward.Load()
}

// noForward turns the forwarder off (TETHER_FORWARD=off through
// cmd/tether), for benchmarks that compare it with ReverseProxy in one
// run, and for the test that compares them.
var noForward atomic.Bool

// SetForwarder turns the forwarder on or off for the whole process.
func SetForwarder(on bool) { noForward.Store(!on) }

// headerPool holds the outbound header maps of forwarded requests.
var headerPool = sync.Pool{New: func() any { return make(http.Header, 16) }}

// userAgentNone is the User-Agent value that sends none (ReverseProxy's
// way of keeping net/http's own out), and teTrailers the TE a client that
// takes trailers passes on. Shared, never written: a header_up that adds
// to them appends to a slice of capacity one, which copies.
var (
	userAgentNone = []string{""}
	teTrailers    = []string{"trailers"}
)

// forward proxies r as ReverseProxy.ServeHTTP does (see forwards for which
// requests); st is serve's state for it.
func (b *Balancer) forward(w http.ResponseWriter, r *http.Request, st *reqState) {
	h := headerPool.Get().(http.Header)
	defer func() {
		clear(h)
		headerPool.Put(h)
	}()
	for k, vv := range r.Header {
		h[k] = vv
	}
	out := r.WithContext(&st.ctx)
	out.Header = h
	st.url = *r.URL
	out.URL = &st.url
	out.Body = nil
	out.Close = false
	removeHopByHop(h)
	if h1.HasToken(r.Header["Te"], "trailers") {
		h["Te"] = teTrailers
	}
	delete(h, "Forwarded")
	delete(h, "X-Forwarded-For")
	delete(h, "X-Forwarded-Host")
	delete(h, "X-Forwarded-Proto")
	out.URL.RawQuery = cleanQuery(out.URL.RawQuery)
	pr := httputil.ProxyRequest{In: r, Out: out}
	b.rewriteFor(&pr, st)
	out = pr.Out
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = userAgentNone
	}
	if !h1.Carries(out) {
		// A Host or target proxy/h1 leaves to net/http: the reverse proxy
		// takes the request from the start (nothing was sent).
		b.rp.ServeHTTP(w, r.WithContext(&st.ctx))
		return
	}
	b.forwarded.Add(1)
	st.w = w
	res, err := b.roundTrip(out)
	st.w = nil
	if err != nil {
		b.proxyError(w, out, err)
		return
	}
	removeHopByHop(res.Header)
	if err := b.modifyResponse(res); err != nil {
		res.Body.Close()
		b.proxyError(w, out, err)
		return
	}
	dst := w.Header()
	for k, vv := range res.Header {
		if have := dst[k]; have != nil {
			dst[k] = append(have, vv...)
		} else {
			dst[k] = vv
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	if err := b.copyBody(w, res); err != nil {
		res.Body.Close()
		panic(http.ErrAbortHandler) // as ReverseProxy: the client's answer is cut
	}
	res.Body.Close() // now, to fill res.Trailer
	if len(res.Trailer) > 0 {
		_ = http.NewResponseController(w).Flush() // chunked, so that trailers can follow
		if len(res.Trailer) == announced {
			for k, vv := range res.Trailer {
				dst[k] = append(dst[k], vv...)
			}
			return
		}
		for k, vv := range res.Trailer {
			for _, v := range vv {
				dst.Add(http.TrailerPrefix+k, v)
			}
		}
	}
}

// informational passes a 1xx answer (103 Early Hints) on to the client of
// a forwarded request, as ReverseProxy's client trace does.
func (st *reqState) informational(code int, header http.Header) error {
	w := st.w
	if w == nil {
		return nil
	}
	h := w.Header()
	for k, vv := range header {
		h[k] = append(h[k], vv...)
	}
	w.WriteHeader(code)
	clear(h)
	return nil
}

// Informational is h1.Informational: proxy/h1 hands a forwarded request's
// 1xx answers to its context.
func (c *stateCtx) Informational(code int, header http.Header) error {
	return c.st.informational(code, header)
}

var _ h1.Informational = (*stateCtx)(nil)

// copyBody copies the member's answer to the client as ReverseProxy's
// copyResponse does with a flush interval of 0 or -1: with -1, or for an
// event stream or an answer of unknown length, flushed after every write.
func (b *Balancer) copyBody(w http.ResponseWriter, res *http.Response) error {
	flush := b.cfg.FlushInterval < 0 || res.ContentLength == -1
	if !flush {
		if ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); ct == "text/event-stream" {
			flush = true
		}
	}
	var ctl *http.ResponseController
	if flush {
		ctl = http.NewResponseController(w)
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for {
		n, rerr := res.Body.Read(*buf)
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, context.Canceled) {
			b.log.Debug().Err(rerr).Msg("member answer cut while it was copied")
		}
		if n > 0 {
			nw, werr := w.Write((*buf)[:n])
			if werr != nil {
				return werr
			}
			if nw != n {
				return io.ErrShortWrite
			}
			if ctl != nil {
				_ = ctl.Flush()
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
	}
}

// removeHopByHop removes the hop-by-hop fields from h, as ReverseProxy:
// those the Connection field names, and RFC 2616's list.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for f != "" {
			var name string
			name, f, _ = strings.Cut(f, ",")
			if name = strings.Trim(name, " \t"); name != "" {
				delete(h, http.CanonicalHeaderKey(name))
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

var hopByHop = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// cleanQuery is ReverseProxy's rule for the outbound query: one with a
// semicolon or a malformed escape is parsed and encoded again (so that a
// member cannot read it otherwise than Tether did); any other passes as
// it is.
func cleanQuery(q string) string {
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return reencodeQuery(q)
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return reencodeQuery(q)
			}
			i += 2
		}
	}
	return q
}

func reencodeQuery(q string) string {
	v, _ := url.ParseQuery(q)
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
