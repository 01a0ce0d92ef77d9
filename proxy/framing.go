package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// HTTP/1.x framing that net/http accepts but an intermediary must not keep
// a connection open after (RFC 9112 §6.1, §6.3):
//
//   - a request with both Transfer-Encoding and Content-Length: net/http
//     drops the Content-Length and reads the chunked body (as the RFC
//     allows), but keeps the connection, so a front proxy that framed the
//     request by its Content-Length and Tether disagree about where the
//     next request starts;
//   - Transfer-Encoding on HTTP/1.0: net/http ignores the header and frames
//     the body by Content-Length (or as empty), so the chunked bytes that
//     follow would be read as the next request.
//
// net/http removes both headers before a handler runs, so framingConn
// watches the raw bytes: it finds the header lines at the start of every
// line and remembers, per block of lines between blank lines, whether it
// held a Transfer-Encoding and a Content-Length. The edge handler closes
// the connection after its response once either case was seen. It sees
// every header block net/http parses (no false negatives); bytes of a body
// that look like such a block only cost that connection its keep-alive.
//
// framingConn also answers 414 itself to a request line longer than the
// URI limit allows while the connection waits for a new request: net/http
// would answer 431 for anything beyond its header limit.

// framingConn is an HTTP/1.x connection whose raw bytes are watched. Read is
// called by one goroutine at a time (net/http's connReader serializes its
// reads, background reads included).
type framingConn struct {
	net.Conn

	ambiguous atomic.Bool // a header block held both Transfer-Encoding and Content-Length
	sawTE     atomic.Bool // some header line was a Transfer-Encoding
	off       atomic.Bool // stop watching: the connection was hijacked (WebSocket)
	armed     atomic.Bool // between requests: the next line is a request line
	maxLine   int         // the longest request line allowed (the URI limit plus method and version)
	log       zerolog.Logger

	// Scanner state, touched only by Read.
	pfx     [18]byte // the current line's first bytes, lowercased
	plen    int
	lineLen int  // bytes of the current line so far
	first   bool // the current line is the first of its block
	blockTE bool
	blockCL bool
	tooLong bool // a request line was refused: reads end

	// The write deadline last set for one of the connection's requests
	// (see deadlineWriter): when, and for how long. Touched only by the
	// handler of the request being served, one at a time.
	writeArmed   time.Time
	writeTimeout time.Duration
}

const (
	teName = "transfer-encoding:"
	clName = "content-length:"
)

func newFramingConn(c net.Conn, maxURI int64, log zerolog.Logger) *framingConn {
	fc := &framingConn{Conn: c, first: true, log: log}
	// "METHOD SP target SP HTTP/1.1": 32 bytes cover every method in use
	// and the version.
	fc.maxLine = int(min(maxURI, 1<<30)) + 32
	fc.armed.Store(true)
	return fc
}

// framingTLSConn is a framingConn over TLS. Its ConnectionState lets
// net/http fill Request.TLS for HTTP/1.x (it does so for a connection that
// is not a *tls.Conn but has this method).
type framingTLSConn struct {
	*framingConn
	tls *tls.Conn
}

func (c framingTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// framingOf returns the framingConn of a connection the framing listener
// returned, or nil for an HTTP/2 one.
func framingOf(c net.Conn) *framingConn {
	switch fc := c.(type) {
	case *framingConn:
		return fc
	case framingTLSConn:
		return fc.framingConn
	}
	return nil
}

func (c *framingConn) Read(p []byte) (int, error) {
	if c.tooLong {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if n > 0 && !c.off.Load() {
		c.scan(p[:n])
		if c.tooLong {
			// net/http has not seen the line yet: answer here and end the
			// connection (it stays silent on a read that hits EOF).
			_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c.Conn, "HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 17\r\n\r\n414 URI Too Long\n")
			c.log.Debug().Str("client", c.RemoteAddr().String()).Int("limit", c.maxLine-32).Msg("request line too long")
			return 0, io.EOF
		}
	}
	return n, err
}

// scan follows the line structure of b, which continues what came before.
func (c *framingConn) scan(b []byte) {
	for len(b) > 0 {
		// Collect the start of the current line.
		for c.plen < len(c.pfx) && len(b) > 0 && b[0] != '\n' {
			ch := b[0]
			if ch >= 'A' && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			c.pfx[c.plen] = ch
			c.plen++
			c.lineLen++
			b = b[1:]
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.lineLen += len(b)
			c.checkRequestLine()
			return
		}
		c.lineLen += i
		c.checkRequestLine()
		c.endLine()
		b = b[i+1:]
	}
}

// checkRequestLine refuses a request line longer than maxLine, while the
// connection waits for a request.
func (c *framingConn) checkRequestLine() {
	if c.first && c.lineLen > c.maxLine && c.armed.Load() && !c.blankSoFar() {
		c.tooLong = true
	}
}

// blankSoFar reports whether the current line is empty (or a lone CR).
func (c *framingConn) blankSoFar() bool {
	return c.lineLen == 0 || c.lineLen == 1 && c.pfx[0] == '\r'
}

func (c *framingConn) endLine() {
	line := c.pfx[:c.plen]
	switch {
	case c.blankSoFar():
		if c.blockTE && c.blockCL {
			c.ambiguous.Store(true)
		}
		c.blockTE, c.blockCL, c.first = false, false, true
	case bytes.HasPrefix(line, []byte(teName)):
		c.blockTE = true
		c.sawTE.Store(true)
		c.first = false
	case bytes.HasPrefix(line, []byte(clName)):
		c.blockCL = true
		c.first = false
	default:
		c.first = false
	}
	c.plen, c.lineLen = 0, 0
}

// mustClose reports whether the connection's framing was ambiguous for a
// request of HTTP/1.minor: the connection must close after the response.
func (c *framingConn) mustClose(minor int) bool {
	return c.ambiguous.Load() || minor == 0 && c.sawTE.Load()
}

// framingKey carries a request's *framingConn in its context.
type framingKey struct{}

func framingConnOf(ctx context.Context) *framingConn {
	fc, _ := ctx.Value(framingKey{}).(*framingConn)
	return fc
}

// framingListener hands net/http HTTP/1.x connections wrapped in a
// framingConn. On an https listener it runs the TLS handshakes itself
// (net/http only serves HTTP/2 on a *tls.Conn, and would not let the
// bytes of HTTP/1.x over TLS be watched): an h2 connection is returned as
// the *tls.Conn, anything else as a framingConn around it.
type framingListener struct {
	net.Listener
	tls     *tls.Config // nil: plain HTTP, no handshakes
	timeout time.Duration
	maxURI  int64
	log     zerolog.Logger

	once  sync.Once
	ready chan net.Conn
	errc  chan error
	done  chan struct{}

	mu      sync.Mutex
	pending map[net.Conn]struct{} // in their handshake, closed with the listener
	closed  bool
}

func newFramingListener(ln net.Listener, tc *tls.Config, handshakeTimeout time.Duration, maxURI int64, log zerolog.Logger) *framingListener {
	return &framingListener{
		Listener: ln, tls: tc, timeout: handshakeTimeout, maxURI: maxURI, log: log,
		ready: make(chan net.Conn), errc: make(chan error, 1), done: make(chan struct{}),
		pending: map[net.Conn]struct{}{},
	}
}

func (l *framingListener) Accept() (net.Conn, error) {
	if l.tls == nil {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		return newFramingConn(c, l.maxURI, l.log), nil
	}
	l.once.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// acceptLoop accepts connections and starts each one's handshake, until
// the listener closes. Accept errors go to Accept as they are, so net/http
// backs off on temporary ones as it does with its own listeners.
func (l *framingListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errc <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !l.track(c) {
			c.Close()
			return
		}
		go l.handshake(c)
	}
}

func (l *framingListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending[c] = struct{}{}
	return true
}

func (l *framingListener) untrack(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.pending[c]
	delete(l.pending, c)
	return ok && !l.closed
}

// handshake runs one TLS handshake within the header timeout and hands the
// connection to Accept.
func (l *framingListener) handshake(raw net.Conn) {
	tc := tls.Server(&handshakeConn{Conn: raw}, l.tls)
	_ = raw.SetDeadline(time.Now().Add(l.timeout))
	err := tc.HandshakeContext(context.Background())
	if err != nil {
		if re, ok := errors.AsType[tls.RecordHeaderError](err); ok && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		l.log.Debug().Err(err).Str("client", raw.RemoteAddr().String()).Msg("tls handshake failed")
		l.untrack(raw)
		if isTimeout(err) {
			raw.Close() // a client too slow to shake hands: no alert to wait for
		} else {
			closeAfterAlert(raw)
		}
		return
	}
	_ = raw.SetDeadline(time.Time{})
	if !l.untrack(raw) {
		raw.Close() // the listener closed meanwhile
		return
	}
	var c net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		c = framingTLSConn{framingConn: newFramingConn(tc, l.maxURI, l.log), tls: tc}
	}
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

// alertLinger bounds how long a failed handshake's connection waits for
// the client to read the alert and close.
const alertLinger = 500 * time.Millisecond

// closeAfterAlert closes the connection of a failed handshake so that the
// client reads the alert Go sent (certificate required, protocol
// version): a TLS 1.3 client sends its request before it learns that its
// certificate was refused, and closing with that request unread would
// reset the connection and discard the alert at the client. So: end the
// write side, read what comes for a moment, then close.
func closeAfterAlert(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		_ = c.SetReadDeadline(time.Now().Add(alertLinger))
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}
	c.Close()
}

// looksLikeHTTP reports whether the first bytes of a TLS connection were an
// HTTP request instead.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

func (l *framingListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
		for c := range l.pending {
			c.Close()
		}
		clear(l.pending)
	}
	l.mu.Unlock()
	return err
}
