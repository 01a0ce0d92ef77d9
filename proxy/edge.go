package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/tether-proxy/tether/config"
)

// The edge: what a request must satisfy before any site or member sees it,
// and the limits on how long and how much a client may send. Every refusal
// here is the client's doing: it gets a 4xx and no member hears of it.

// edgeHandler is a listener's first handler: the connection's framing and
// the request's form.
type edgeHandler struct {
	next http.Handler
}

func (h edgeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		if fc := framingConnOf(r.Context()); fc != nil {
			fc.armed.Store(false) // bytes read from here on are this request's body
			if fc.mustClose(r.ProtoMinor) {
				// RFC 9112 §6.1, §6.3: answer, then close, so that no byte
				// after this request is read as another one.
				w.Header().Set("Connection", "close")
			}
			defer rearmAfter(fc, r)
		}
	}
	if r.Method == "PRI" {
		// The HTTP/2 preface ("PRI * HTTP/2.0") on an HTTP/1.x connection:
		// net/http passes it as a request. (On HTTP/2 the server consumed
		// it.)
		refuse(w, r, http.StatusBadRequest, "HTTP/2 connection preface on an HTTP/1.1 connection", true)
		return
	}
	if !validHost(r.Host) {
		// net/http checks the Host header but not the authority of an
		// absolute-form target, which replaces it.
		refuse(w, r, http.StatusBadRequest, "invalid host", true)
		return
	}
	h.next.ServeHTTP(w, r)
}

// rearmAfter lets the connection's next request line be checked once this
// request's body has been read to its end (or it had none): bytes left
// unread are discarded by net/http and must not be taken for a request line.
func rearmAfter(fc *framingConn, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		fc.armed.Store(true)
		return
	}
	if eb, ok := r.Body.(*eofBody); ok && eb.eof {
		fc.armed.Store(true)
	}
}

// validHost reports whether h may be a request's authority: empty (HTTP/1.0
// without Host), or host[:port] where host is an IP literal in brackets or
// a reg-name of RFC 3986 §3.2.2 (letters, digits, -._~, sub-delims, %).
func validHost(h string) bool {
	if h == "" {
		return true
	}
	host, port := h, ""
	if h[0] == '[' {
		i := strings.IndexByte(h, ']')
		if i < 0 {
			return false
		}
		if a, err := netip.ParseAddr(h[1:i]); err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		rest := h[i+1:]
		if rest != "" {
			if rest[0] != ':' {
				return false
			}
			port = rest[1:]
		}
		return validPort(port)
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	if !validPort(port) || host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// refuse answers a request the edge will not pass on. With closeConn the
// connection closes after the answer (its framing or form is suspect).
func refuse(w http.ResponseWriter, r *http.Request, status int, msg string, closeConn bool) {
	setLoggedStatus(r, status, "")
	h := w.Header()
	if closeConn {
		h.Set("Connection", "close")
	}
	if handledError(w, r, status, msg, "") { // a site's limits: its handle_errors
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status)+": "+msg+"\n")
}

// siteLimits are the limits a site applies to each request.
type siteLimits struct {
	config.Limits
	allow map[string]bool // methods refused by default that the site passes on
}

// allowedByDefault are the methods no site refuses; Allow lists them.
const allowedMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"

// admit checks a request against the site's limits and, when it passes,
// returns the request and writer to serve it with: the body paced
// (body_timeout, body_min_rate) and bounded (max_body_size), every write
// bounded by write_timeout. orig is the connection's own writer, which
// net/http needs to close the connection when a body is too large.
func (l *siteLimits) admit(w, orig http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, bool) {
	if (r.Method == http.MethodTrace || r.Method == http.MethodConnect) && !l.allow[r.Method] {
		w.Header().Set("Allow", allowedMethods)
		refuse(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed", false)
		return w, r, false
	}
	if int64(len(r.RequestURI)) > l.MaxURILength {
		refuse(w, r, http.StatusRequestURITooLong, "the request target is longer than the site allows", true)
		return w, r, false
	}
	if cl := r.Header.Get("Content-Length"); r.ProtoMajor == 2 && r.ContentLength == 0 && cl != "" && cl != "0" {
		// HEADERS that end the stream but announce a body (net/http's
		// HTTP/2 server then reports ContentLength 0), or an unreadable
		// content-length: malformed (RFC 9113 §8.1.1), and let through.
		refuse(w, r, http.StatusBadRequest, "content-length announces a body the stream does not carry", false)
		return w, r, false
	}
	if l.MaxBodySize > 0 && r.ContentLength > l.MaxBodySize {
		refuse(w, r, http.StatusRequestEntityTooLarge, "the request body is larger than the site allows", true)
		return w, r, false
	}
	ctl := http.NewResponseController(orig)
	if r.Body != nil && r.Body != http.NoBody {
		minRate := l.BodyMinRate
		if isGRPC(r) {
			// A gRPC call's body is a stream of messages at the
			// application's pace, not an upload: only a pause longer than
			// body_timeout ends it.
			minRate = 0
		}
		var body io.ReadCloser = &pacedBody{rc: r.Body, ctl: ctl, start: time.Now(), timeout: l.BodyTimeout, minRate: minRate}
		if l.MaxBodySize > 0 {
			body = http.MaxBytesReader(orig, body, l.MaxBodySize)
		}
		r2 := *r
		r2.Body = &eofBody{rc: body}
		r = &r2
	}
	dw := &deadlineWriter{ResponseWriter: w, ctl: ctl, timeout: l.WriteTimeout}
	if fc := framingConnOf(r.Context()); fc != nil && r.ProtoMajor == 1 {
		dw.conn = fc
		if fc.writeTimeout == l.WriteTimeout {
			// The deadline set for an earlier request on the
			// connection still holds: arm renews it when it is due.
			dw.at = fc.writeArmed
		}
	}
	dw.arm(time.Now()) // also bounds what net/http writes itself (100 Continue)
	return dw, r, true
}

// finish bounds what net/http does with a request body the handler left
// unread: after the handler it reads up to 256 KiB more to keep the
// connection, at the client's pace and with no deadline, so a client could
// announce a body, never send it, and hold the connection for good. A
// refused request's body is not waited for at all (its answer closes the
// connection); another's gets body_timeout.
func (l *siteLimits) finish(orig http.ResponseWriter, r *http.Request, admitted bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	if eb, ok := r.Body.(*eofBody); ok && eb.eof {
		return
	}
	wait := l.BodyTimeout
	if !admitted {
		wait = 0
	}
	_ = http.NewResponseController(orig).SetReadDeadline(time.Now().Add(wait))
}

// pacedBody ends a request body that pauses longer than timeout between
// reads, or, once timeout has passed, arrives slower than minRate bytes a
// second on average (Apache's mod_reqtimeout body=T,MinRate=R): the read
// fails with a timeout, which the client is answered 408 for.
type pacedBody struct {
	rc      io.ReadCloser
	ctl     *http.ResponseController
	start   time.Time
	n       int64 // bytes read so far
	timeout time.Duration
	minRate int64
}

func (b *pacedBody) Read(p []byte) (int, error) {
	now := time.Now()
	dl := now.Add(b.timeout)
	if b.minRate > 0 {
		credit := time.Duration(b.n/b.minRate)*time.Second + time.Duration(b.n%b.minRate)*time.Second/time.Duration(b.minRate)
		if byRate := b.start.Add(b.timeout + credit); byRate.Before(dl) {
			dl = byRate
		}
	}
	_ = b.ctl.SetReadDeadline(dl)
	n, err := b.rc.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		// The deadline must not outlive the body: net/http's next reads
		// on the connection (its close detection, the next request) are
		// its own.
		_ = b.ctl.SetReadDeadline(time.Time{})
	case isTimeout(err):
		// The deadline stays: net/http would otherwise wait for the rest
		// of the body, at the client's pace, before closing.
		err = &bodyTimeoutError{err}
	}
	return n, err
}

func (b *pacedBody) Close() error { return b.rc.Close() }

// bodyTimeoutError is a request body that came too slowly (408).
type bodyTimeoutError struct{ err error }

func (e *bodyTimeoutError) Error() string {
	return "request body too slow: " + e.err.Error()
}
func (e *bodyTimeoutError) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// eofBody remembers whether a request body was read to its end.
type eofBody struct {
	rc  io.ReadCloser
	eof bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *eofBody) Close() error { return b.rc.Close() }

// deadlineWriter bounds every write of a response to the client: a client
// that stops reading has its connection (or HTTP/2 stream) closed after
// timeout instead of holding a member connection for as long as it likes.
// The deadline is pushed forward at most once every timeout/16, so a
// stream of small writes does not set one each.
type deadlineWriter struct {
	http.ResponseWriter
	ctl     *http.ResponseController
	timeout time.Duration
	at      time.Time // when the deadline was last set
	// conn is the HTTP/1.x connection, which remembers the deadline for
	// its next request (nil on HTTP/2, where deadlines are per stream).
	conn *framingConn
}

func (w *deadlineWriter) arm(now time.Time) {
	if now.Sub(w.at) < w.timeout/16 {
		return
	}
	w.at = now
	_ = w.ctl.SetWriteDeadline(now.Add(w.timeout))
	if w.conn != nil {
		w.conn.writeArmed, w.conn.writeTimeout = now, w.timeout
	}
}

func (w *deadlineWriter) WriteHeader(code int) {
	if code < 200 {
		w.arm(time.Now()) // informational answers are written at once
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.arm(time.Now())
	return w.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController.Flush calls (the reverse
// proxy's streaming flushes).
func (w *deadlineWriter) FlushError() error {
	w.arm(time.Now())
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands over the connection (a WebSocket upgrade) without the
// request's deadlines: the tunnel's own lifetime is its peers' business.
func (w *deadlineWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		_ = c.SetDeadline(time.Time{})
	}
	return c, brw, err
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
