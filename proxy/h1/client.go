// Package h1 is Tether's own HTTP/1.1 client for members: it writes a
// request and reads its answer on the caller's goroutine, over a pool of
// kept-alive connections, with one buffered write per request.
//
// net/http's Transport gives every connection a read loop and a write
// loop and hands each request between them and the caller through
// channels; for a proxy that sends many short requests that is the largest
// cost it adds (goroutine switches, select, the idle-connection queues).
// This client has none of that, and carries only what it carries exactly
// as net/http would (the same bytes on the wire, the same response
// parsing, which is net/http's own): requests without a body, without
// trailers, and not asking for a protocol upgrade. Everything else goes to
// the Fallback transport, so a caller sees one http.RoundTripper.
//
// The request head is written the way net/http's Request.Write writes it
// (FuzzWriteLikeNetHTTP holds the two side by side); the response is read
// with http.ReadResponse.
package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"
)

// Client is a pool of HTTP/1.1 connections to one member. Its fields are
// set before the first RoundTrip and not changed after. It is safe for
// concurrent use.
type Client struct {
	// Addr is the member's host:port.
	Addr string
	// Dial opens a connection to Addr. Its errors are returned as they are
	// (a *net.OpError with Op "dial" says the request was not sent).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Fallback carries the requests this client does not (see Carries).
	Fallback http.RoundTripper

	// MaxIdle is the most idle connections kept (0: none are kept).
	MaxIdle int
	// IdleTimeout closes connections idle for longer (0: never).
	IdleTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the answer's head once
	// the request is written (0: no limit).
	ResponseHeaderTimeout time.Duration
	// MaxResponseHeaderBytes bounds the answer's head, 1xx heads included
	// (0: 1 MiB, net/http's default).
	MaxResponseHeaderBytes int64
	// ReadBufferSize and WriteBufferSize size each connection's buffers
	// (0: 4 KiB, as net/http).
	ReadBufferSize, WriteBufferSize int

	mu    sync.Mutex
	idle  []*conn // most recently used last
	sweep *time.Timer
}

// Informational is a request context that takes the 1xx answers (but
// 101) the request gets before its answer: a cheaper way to see them than
// an httptrace.ClientTrace's Got1xxResponse, which is honoured too.
type Informational interface {
	Informational(code int, header http.Header) error
}

// maxInformational is how many 1xx answers one request may get before
// its final answer (net/http allows 5).
const maxInformational = 5

// RoundTrip sends req to the member and returns its answer, as
// http.RoundTripper requires. The answer's body must be read to its end or
// closed; a connection goes back to the pool when its answer's body has
// been read to its end.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if !Carries(req) || req.URL.Host != c.Addr {
		return c.Fallback.RoundTrip(req)
	}
	// A request that cannot be sent fails before it takes a connection
	// (and costs none).
	if err := checkHead(req); err != nil {
		return nil, err
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		pc, err := c.get(req.Context())
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		pc.close()
		if attempt == 0 && pc.reused && !pc.gotByte && req.Context().Err() == nil &&
			(pc.nothingWritten || replayable(req) && !timedOut(err)) {
			// A kept-alive connection the member had closed (net/http
			// sends the request again on a new one in the same case).
			// Not a request whose answer did not come in time: the
			// member has it and is slow, not gone.
			continue
		}
		return nil, err
	}
}

// Carries reports whether the client writes req itself (when it is for
// Addr); the others go to the Fallback transport: requests with a body or trailers, upgrades
// (WebSockets), CONNECT, targets in opaque form, hosts net/http would
// rewrite (non-ASCII names, zones), and schemes other than http.
func Carries(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody || req.ContentLength > 0 || len(req.Trailer) > 0 ||
		len(req.TransferEncoding) > 0 || req.Method == http.MethodConnect || req.URL == nil ||
		req.URL.Scheme != "http" || req.URL.Opaque != "" || req.Close {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	return plainHost(hostOf(req))
}

func hostOf(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// plainHost reports whether net/http would send host as it is: only the
// bytes its Host check (httpguts.ValidHostHeader) lets through, ASCII (no
// IDNA conversion) and no '%' (no zone to remove).
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		b := host[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case strings.IndexByte("!$&'()*+,-.:;=[]_~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// replayable is net/http's rule for sending a request again on a new
// connection after the member closed a kept-alive one under it.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

// timedOut: err is a deadline's (ResponseHeaderTimeout's).
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// get returns an idle connection, or a new one.
func (c *Client) get(ctx context.Context) (*conn, error) {
	now := time.Now()
	c.mu.Lock()
	for n := len(c.idle); n > 0; n = len(c.idle) {
		pc := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		idleFor := now.Sub(pc.idleAt)
		if c.IdleTimeout > 0 && idleFor > c.IdleTimeout {
			c.mu.Unlock()
			pc.nc.Close()
			c.mu.Lock()
			continue
		}
		c.mu.Unlock()
		// Every time, however short the idle time: the member may have
		// closed the connection, or sent bytes unasked, which must not
		// be read as this request's answer (net/http's read loop drops
		// such a connection as the bytes come). A deadline that passed
		// would fail the peek.
		if !pc.deadline.IsZero() && !now.Before(pc.deadline) && !pc.clearDeadline() || !pc.peek.alive() {
			pc.nc.Close()
			c.mu.Lock()
			continue
		}
		pc.reset(true)
		return pc, nil
	}
	c.mu.Unlock()
	nc, err := c.Dial(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, err
	}
	pc := &conn{cl: c, nc: nc}
	pc.lr.c = nc
	pc.peek.init(nc)
	pc.br = bufio.NewReaderSize(&pc.lr, bufSize(c.ReadBufferSize))
	pc.bw = bufio.NewWriterSize(nc, bufSize(c.WriteBufferSize))
	pc.reset(false)
	return pc, nil
}

func bufSize(n int) int {
	if n <= 0 {
		return 4 << 10
	}
	return n
}

// put returns a connection whose exchange ended cleanly to the pool.
func (c *Client) put(pc *conn) {
	pc.idleAt = time.Now()
	c.mu.Lock()
	if len(c.idle) >= c.MaxIdle {
		c.mu.Unlock()
		pc.nc.Close()
		return
	}
	c.idle = append(c.idle, pc)
	if c.IdleTimeout > 0 && c.sweep == nil {
		c.sweep = time.AfterFunc(c.IdleTimeout, c.closeStale)
	}
	c.mu.Unlock()
}

// closeStale closes the connections idle for longer than IdleTimeout and
// comes back while any are left.
func (c *Client) closeStale() {
	cutoff := time.Now().Add(-c.IdleTimeout)
	var stale []*conn
	c.mu.Lock()
	i := 0
	for ; i < len(c.idle) && c.idle[i].idleAt.Before(cutoff); i++ {
		stale = append(stale, c.idle[i])
	}
	c.idle = slices.Delete(c.idle, 0, i)
	if len(c.idle) > 0 {
		c.sweep.Reset(c.idle[0].idleAt.Sub(cutoff) + time.Millisecond)
	} else {
		c.sweep = nil
	}
	c.mu.Unlock()
	for _, pc := range stale {
		pc.nc.Close()
	}
}

// CloseIdleConnections closes the idle connections, of the Fallback
// transport too.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, pc := range idle {
		pc.nc.Close()
	}
	if f, ok := c.Fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// IdleConns is how many connections are idle in the pool.
func (c *Client) IdleConns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// conn is one connection to the member.
type conn struct {
	cl     *Client
	nc     net.Conn
	lr     limitedConn // what br reads: nc, with the head's size limit
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	peek   peeker // checks the connection before it is used again
	// deadline is the read deadline set on nc (zero: none).
	deadline time.Time

	// Of the current exchange: the connection was kept alive from an
	// earlier one; nothing of the request reached the socket; a byte of
	// the answer arrived; the watch of the request's context (stop
	// reports whether it had not fired).
	reused, nothingWritten, gotByte bool
	stop                            func() bool
}

func (pc *conn) reset(reused bool) {
	pc.reused, pc.nothingWritten, pc.gotByte, pc.stop = reused, true, false, nil
}

// clearDeadline takes the read deadline off the connection (a peek
// would fail on one that passed); false when that fails.
func (pc *conn) clearDeadline() bool {
	if pc.deadline.IsZero() {
		return true
	}
	pc.deadline = time.Time{}
	return pc.nc.SetReadDeadline(time.Time{}) == nil
}

func (pc *conn) close() {
	if pc.stop != nil {
		pc.stop()
		pc.stop = nil
	}
	pc.nc.Close()
}

// aLongTimeAgo is a deadline in the past: it wakes a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

func (pc *conn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nc := pc.nc
		pc.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	}
	writeCheckedHead(pc.bw, req)
	head := pc.bw.Buffered()
	if err := pc.bw.Flush(); err != nil {
		pc.nothingWritten = pc.bw.Buffered() == head
		return nil, pc.ctxErr(ctx, err)
	}
	pc.nothingWritten = false

	c := pc.cl
	limit := c.MaxResponseHeaderBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	pc.lr.n = limit
	pc.lr.read = 0
	pc.armHeaderDeadline()
	var resp *http.Response
	for informational := 0; ; informational++ {
		var err error
		resp, err = readResponse(pc.br, req)
		pc.gotByte = pc.gotByte || pc.lr.read > 0
		if err != nil {
			if pc.lr.n <= 0 {
				return nil, fmt.Errorf("h1: answer's head larger than %d bytes", limit)
			}
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("h1: member closed the connection before answering: %w", err)
			}
			return nil, pc.ctxErr(ctx, err)
		}
		code := resp.StatusCode
		if code >= 200 {
			break
		}
		if code == http.StatusSwitchingProtocols || informational == maxInformational {
			return nil, fmt.Errorf("h1: unexpected %d answer", code)
		}
		if inf, ok := ctx.(Informational); ok {
			if err := inf.Informational(code, resp.Header); err != nil {
				return nil, err
			}
		} else if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
	pc.lr.n = -1 // the body is not limited
	// An answer without a body (a HEAD's, which need not say its
	// length) leaves the connection as fit as one with a known length.
	keep := !resp.Close && (resp.ContentLength >= 0 || chunked(resp.TransferEncoding) || resp.Body == http.NoBody)
	if !pc.deadline.IsZero() && (resp.ContentLength < 0 || int64(pc.br.Buffered()) < resp.ContentLength) {
		// The body is read from the connection, for as long as it
		// takes: no deadline. (One already in the buffer leaves the
		// deadline for the next request.)
		pc.nc.SetReadDeadline(time.Time{})
		pc.deadline = time.Time{}
	}
	if resp.Body == http.NoBody || resp.Body == nil {
		pc.finish(keep)
		return resp, nil
	}
	resp.Body = &body{rc: resp.Body, pc: pc, keep: keep, ctx: ctx}
	return resp, nil
}

// armHeaderDeadline bounds the wait for the answer's head by
// ResponseHeaderTimeout. Setting a deadline costs a timer update, so one
// left from an earlier exchange on the connection is kept while at least
// nine tenths of the timeout are left of it: the wait is bounded by
// between 0.9 and 1 times the timeout.
func (pc *conn) armHeaderDeadline() {
	t := pc.cl.ResponseHeaderTimeout
	if t <= 0 {
		return
	}
	now := time.Now()
	if !pc.deadline.IsZero() && pc.deadline.Sub(now) >= t-t/10 {
		return
	}
	pc.deadline = now.Add(t)
	pc.nc.SetReadDeadline(pc.deadline)
}

// ctxErr is the request context's error when it ended the exchange (so a
// caller sees context.Canceled for a client that left), or err.
func (pc *conn) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// finish ends an exchange: the connection goes back to the pool when it
// may carry another, and is closed otherwise.
func (pc *conn) finish(keep bool) {
	if pc.stop != nil {
		if !pc.stop() {
			keep = false // the context fired: its deadline is on the connection
		}
		pc.stop = nil
	}
	if keep && pc.br.Buffered() == 0 {
		pc.cl.put(pc)
		return
	}
	pc.nc.Close()
}

func chunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

// body is an answer's body: at its end the connection goes back to the
// pool; closed early, the connection is closed.
type body struct {
	rc   io.ReadCloser
	pc   *conn
	keep bool
	ctx  context.Context
	done bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.done = true
		b.pc.finish(b.keep)
	case err != nil:
		b.done = true
		b.pc.finish(false)
		err = b.pc.ctxErr(b.ctx, err)
	}
	return n, err
}

func (b *body) Close() error {
	if !b.done {
		b.done = true
		b.pc.finish(false)
	}
	return nil
}

// limitedConn is what a connection's reader reads: n bytes more at most
// while n >= 0 (the answer's head), all of them while n < 0; read counts
// the bytes read.
type limitedConn struct {
	c    net.Conn
	n    int64
	read int64
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n == 0 {
		return 0, io.EOF
	}
	if l.n > 0 && int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.Read(p)
	if l.n > 0 {
		l.n -= int64(n)
		if l.n == 0 {
			l.n = 0
		}
	}
	l.read += int64(n)
	return n, err
}

// The request heads net/http refuses to write, with its errors.
var (
	errInvalidMethod = errors.New("net/http: invalid method")
	errCTLInURL      = errors.New("net/http: can't write control character in Request.URL")
)

// hasCTL: a control byte (below space, or DEL).
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// writeHead writes the request line and header fields of a request
// without a body as net/http's Request.Write does: Host first (Request.Host
// or the URL's), then User-Agent (net/http's own when the header has
// none; the first value; none when it is empty), Content-Length: 0 for
// POST, PUT and PATCH, and the other fields sorted by name, each value's
// line breaks turned to spaces and its surrounding blanks trimmed. Field
// names and values net/http would refuse are refused with its errors.
func writeHead(w *bufio.Writer, req *http.Request) error {
	if err := checkHead(req); err != nil {
		return err
	}
	writeCheckedHead(w, req)
	return nil
}

// checkHead refuses what net/http would refuse to write, with its errors.
func checkHead(req *http.Request) error {
	// The header fields first, then the method, as Transport.roundTrip.
	for k, vv := range req.Header {
		if !validFieldName(k) {
			return fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return fmt.Errorf("net/http: invalid header field value for %q", k)
			}
		}
	}
	if req.Method != "" && !validMethod(req.Method) {
		return fmt.Errorf("%w %q", errInvalidMethod, req.Method)
	}
	if hasCTL(req.URL.EscapedPath()) || hasCTL(req.URL.RawQuery) {
		return errCTLInURL
	}
	return nil
}

// writeCheckedHead writes the head of a request checkHead let through
// (errors are the writer's, left in it).
func writeCheckedHead(w *bufio.Writer, req *http.Request) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	w.WriteString(method)
	w.WriteByte(' ')
	u := req.URL
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	w.WriteString(path)
	if u.ForceQuery || u.RawQuery != "" {
		w.WriteByte('?')
		w.WriteString(u.RawQuery)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(hostOf(req))
	w.WriteString("\r\n")
	ua := "Go-http-client/1.1"
	if vv, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(vv) > 0 {
			ua = vv[0]
		}
	}
	if ua != "" {
		w.WriteString("User-Agent: ")
		writeValue(w, ua)
		w.WriteString("\r\n")
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		w.WriteString("Content-Length: 0\r\n")
	}
	var buf [32]string
	keys := buf[:0]
	for k := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range req.Header[k] {
			w.WriteString(k)
			w.WriteString(": ")
			writeValue(w, v)
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
}

// writeValue writes a field value as net/http's Header.Write does: CR and
// LF become spaces, spaces and tabs around it are trimmed.
func writeValue(w *bufio.Writer, v string) {
	v = strings.Trim(v, " \t\r\n")
	for {
		i := strings.IndexAny(v, "\r\n")
		if i < 0 {
			w.WriteString(v)
			return
		}
		w.WriteString(v[:i])
		w.WriteByte(' ')
		v = v[i+1:]
	}
}

// validMethod: a token (RFC 9110 §9.1), as net/http checks.
func validMethod(m string) bool { return m != "" && validFieldName(m) }

// validFieldName: a token, as httpguts.ValidHeaderFieldName.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(b byte) bool { return tokenBytes[b] }

// tokenBytes are the bytes of a token (RFC 9110 §5.6.2).
var tokenBytes = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// validFieldValue, as httpguts.ValidHeaderFieldValue: no control byte but
// horizontal tab (bytes of 0x80 and above pass).
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}
