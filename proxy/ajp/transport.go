package ajp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPort is the AJP port used when an address has none.
const DefaultPort = "8009"

// Config configures a Transport. Zero fields take the values of DefaultConfig.
type Config struct {
	// Addr is the backend's host:port, used for requests whose URL has no
	// host. Requests name their backend in the URL (ajp://host:port/path), so
	// one Transport serves many backends. Empty: every request needs a host.
	Addr string
	// Secret is sent with every request as attribute 0x0C; it must equal the
	// secret of Tomcat's AJP connector (required since Tomcat 9.0.31, which
	// answers 403 and closes the connection on a mismatch). Empty: not sent.
	Secret string
	// PacketSize is the AJP packet size in bytes, 8192 to 65536; it must
	// equal Tomcat's packetSize (mod_jk max_packet_size). Default 8192.
	PacketSize int
	// MaxConns limits the connections open to one backend, idle or busy;
	// requests beyond it wait for a free one (or their context). Keep it at or
	// below the connector's maxConnections/maxThreads. Default 0: no limit.
	MaxConns int
	// MaxIdle is how many idle connections are kept per backend. Default 16;
	// negative: none (every connection is closed after its request).
	MaxIdle int
	// IdleTimeout closes connections idle for this long. Keep it below the
	// AJP connector's connectionTimeout. Default 60s; negative: never.
	IdleTimeout time.Duration
	// DialTimeout bounds a TCP connect. Default 5s.
	DialTimeout time.Duration
	// ReplyTimeout is the longest silence allowed while waiting for a packet
	// from the backend (mod_jk reply_timeout); writes are bounded by it too.
	// It must be finite: Tomcat fails a response whose headers do not fit one
	// packet silently and leaves the socket open. Default 60s.
	ReplyTimeout time.Duration
	// CPingBeforeReuseAfter makes a connection idle for longer than this
	// prove itself with CPing/CPong before it is reused (mod_jk
	// connection_ping_interval). Default 10s; negative: never.
	CPingBeforeReuseAfter time.Duration
	// PingTimeout bounds the wait for CPONG, in Ping and before reuse
	// (mod_jk ping_timeout). Default 5s.
	PingTimeout time.Duration
}

// DefaultConfig returns the configuration New uses for zero fields.
func DefaultConfig() Config {
	return Config{
		PacketSize:            DefaultPacketSize, // what Tomcat and mod_jk use unless told otherwise
		MaxIdle:               16,                // enough for bursts without hoarding Tomcat threads
		IdleTimeout:           60 * time.Second,  // below typical AJP connectionTimeout settings
		DialTimeout:           5 * time.Second,   // loopback and LAN backends; a slower connect means trouble
		ReplyTimeout:          60 * time.Second,  // httpd's Timeout, which mod_proxy_ajp applies
		CPingBeforeReuseAfter: 10 * time.Second,  // mod_jk's default connection_ping_interval with ping_mode I
		PingTimeout:           5 * time.Second,   // half of mod_jk's 10 s ping_timeout: probes should fail fast
	}
}

// Transport is an http.RoundTripper that speaks AJP13 to Tomcat (or any AJP
// container) for requests whose URL scheme is "ajp". It pools connections
// per backend address. It is safe for concurrent use.
type Transport struct {
	cfg  Config
	dial func(ctx context.Context, addr string) (net.Conn, error)

	bufs sync.Pool // *[]byte of PacketSize capacity, for encoding forward requests

	mu    sync.Mutex // guards pools
	pools map[string]*hostPool
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport for cfg, with zero fields set from DefaultConfig.
func New(cfg Config) (*Transport, error) {
	def := DefaultConfig()
	if cfg.PacketSize == 0 {
		cfg.PacketSize = def.PacketSize
	}
	if cfg.PacketSize < DefaultPacketSize || cfg.PacketSize > MaxPacketSize {
		return nil, fmt.Errorf("ajp: packet size %d outside %d..%d", cfg.PacketSize, DefaultPacketSize, MaxPacketSize)
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("ajp: negative MaxConns %d", cfg.MaxConns)
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = def.MaxIdle
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = def.DialTimeout
	}
	if cfg.ReplyTimeout < 0 {
		return nil, fmt.Errorf("ajp: negative ReplyTimeout %v: it must be finite", cfg.ReplyTimeout)
	}
	if cfg.ReplyTimeout == 0 {
		cfg.ReplyTimeout = def.ReplyTimeout
	}
	if cfg.CPingBeforeReuseAfter == 0 {
		cfg.CPingBeforeReuseAfter = def.CPingBeforeReuseAfter
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = def.PingTimeout
	}
	if cfg.Addr != "" {
		a, err := normalizeAddr(cfg.Addr)
		if err != nil {
			return nil, err
		}
		cfg.Addr = a
	}
	t := &Transport{cfg: cfg, pools: make(map[string]*hostPool)}
	t.bufs.New = func() any {
		b := make([]byte, 0, cfg.PacketSize)
		return &b
	}
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	t.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}
	return t, nil
}

// Config returns the configuration in effect, defaults filled in.
func (t *Transport) Config() Config { return t.cfg }

// ErrNotSent is matched (errors.Is) by errors of requests that never reached
// the backend: the connection could not be made (refused, timed out,
// unreachable), the context ended while waiting for a connection, or the
// forward request could not be written. Such a request is safe to retry on
// another backend whatever its method. The error also wraps its cause.
var ErrNotSent = errors.New("ajp: request not sent")

// ErrRefused is returned (wrapped) by RoundTrip when Tomcat's AJP connector
// refused the request before the application saw it: a short 403 after
// which Tomcat closes the connection. Tomcat does that for a missing or
// wrong secret and for a request attribute it does not accept; an
// application's own 403 keeps the connection open and is returned as a
// response.
var ErrRefused = errors.New("ajp: the AJP connector refused the request (403 and connection closed): wrong or missing secret, or a request attribute it does not accept")

type notSentError struct{ err error }

func (e *notSentError) Error() string        { return e.err.Error() }
func (e *notSentError) Unwrap() error        { return e.err }
func (e *notSentError) Is(target error) bool { return target == ErrNotSent }

// notSent marks err as a request that never reached the backend.
func notSent(err error) error {
	if errors.Is(err, ErrNotSent) {
		return err
	}
	return &notSentError{err: err}
}

type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return fmt.Sprintf("ajp: dial %s: %v", e.addr, e.err) }
func (e *dialError) Unwrap() error { return e.err }

// normalizeAddr turns "host", "host:port" or "ajp://host:port" into host:port.
func normalizeAddr(a string) (string, error) {
	a = strings.TrimPrefix(a, "ajp://")
	a = strings.TrimSuffix(a, "/")
	if a == "" {
		return "", errors.New("ajp: empty backend address")
	}
	if _, _, err := net.SplitHostPort(a); err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return net.JoinHostPort(strings.Trim(a, "[]"), DefaultPort), nil
		}
		return "", fmt.Errorf("ajp: backend address %q: %w", a, err)
	}
	return a, nil
}

func (t *Transport) pool(addr string) *hostPool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pools[addr]
	if p == nil {
		p = &hostPool{t: t, addr: addr}
		t.pools[addr] = p
	}
	return p
}

// CloseIdleConnections closes the idle connections of every backend.
// Connections in use are closed when their requests end.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	pools := make([]*hostPool, 0, len(t.pools))
	for _, p := range t.pools {
		pools = append(pools, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.closeIdle()
	}
}

// RoundTrip sends one request over AJP13 and returns the response once its
// headers arrived. The body streams as Tomcat sends SEND_BODY_CHUNK packets;
// it must be read to EOF or closed. The connection goes back to the pool only
// when Tomcat ended the response with reuse=1 and the body was read to the end.
//
// The request URL must have scheme "ajp"; its host:port names the backend
// (port 8009 if absent; Config.Addr if the URL has no host). The path and
// query are forwarded; the Host header is r.Host, or the URL's host if r.Host
// is empty. The client address and TLS flag come from the context (see
// WithClientInfo), else from r.RemoteAddr and r.TLS.
//
// Errors: ErrHeadersTooLarge (nothing sent), errors matching ErrNotSent
// (never reached the backend; safe to retry elsewhere), ErrReplyTimeout (also a
// net.Error with Timeout() true), *ProtocolError for a backend breaking the
// protocol, the context's error when it ended first, and I/O errors. An idle
// connection found dead when reused is replaced by a fresh one once,
// internally: always when the request could not be written, and for
// idempotent requests (GET, HEAD, OPTIONS, TRACE, or with an Idempotency-Key
// header) whose body can be replayed when the connection closed before any
// reply.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	closeReqBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if req.URL == nil {
		closeReqBody()
		return nil, errors.New("ajp: request has no URL")
	}
	if req.URL.Scheme != "ajp" {
		closeReqBody()
		return nil, fmt.Errorf("ajp: unsupported URL scheme %q", req.URL.Scheme)
	}
	host := req.URL.Host
	if host == "" {
		host = t.cfg.Addr
	}
	if host == "" {
		closeReqBody()
		return nil, errors.New("ajp: request URL has no host and Config.Addr is empty")
	}
	addr, err := normalizeAddr(host)
	if err != nil {
		closeReqBody()
		return nil, err
	}
	ci, ok := ClientInfoFrom(ctx)
	if !ok {
		ci = ClientInfoFromRequest(req, false)
	}
	if req.Host == "" && req.URL.Host == "" {
		req = req.Clone(ctx) // Host header: the backend address stands in for a missing one
		req.Host = addr
	}
	bufp := t.bufs.Get().(*[]byte)
	defer t.bufs.Put(bufp) // pkt is not used after the exchanges below
	pkt, bodyLen, err := encodeForwardRequest(*bufp, t.cfg.PacketSize, req, ci, t.cfg.Secret)
	if err != nil {
		closeReqBody()
		return nil, err
	}
	body := newRequestBody(req, bodyLen)
	p := t.pool(addr)
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx, attempt > 0)
		if err != nil {
			body.close()
			return nil, err
		}
		resp, retry, err := t.exchange(ctx, c, req, pkt, body)
		if err == nil {
			return resp, nil
		}
		if retry && attempt == 0 && body.rewind() {
			continue
		}
		body.close()
		return nil, err
	}
}

// idempotent reports whether req may be sent twice (RFC 9110 §9.2.2, as
// net/http's Transport decides its retries).
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// isConnGone reports whether err means the peer had closed the connection.
func isConnGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// exchange runs one request on c up to the response headers. On error c is
// closed; retry says whether the request may be sent again on a fresh
// connection.
func (t *Transport) exchange(ctx context.Context, c *conn, req *http.Request, pkt []byte, body *requestBody) (resp *http.Response, retry bool, err error) {
	addr := c.pool.addr
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	fail := func(e error) (*http.Response, bool, error) {
		stop()
		c.close()
		if ctx.Err() != nil {
			e = fmt.Errorf("ajp: %s %s: %w", req.Method, addr, ctx.Err())
		}
		return nil, retry, e
	}

	if err := c.write(pkt, t.cfg.ReplyTimeout); err != nil {
		// Tomcat did not get the whole forward request, so it cannot have
		// acted on it.
		retry = c.reused
		if ctx.Err() != nil {
			return fail(notSent(ctx.Err()))
		}
		return fail(notSent(fmt.Errorf("ajp: send request to %s: %w", addr, err)))
	}
	if body.length > 0 { // the first chunk goes unasked (ajpv13a)
		if err := t.sendBodyChunk(c, body, t.cfg.PacketSize); err != nil {
			return fail(err)
		}
	}

	rb := &responseBody{t: t, c: c, req: req, body: body, stop: stop, ctxErr: ctx.Err}
	for first := true; ; first = false {
		p, err := c.readPacket(t.cfg.ReplyTimeout)
		if err != nil {
			if first && c.reused && isConnGone(err) && idempotent(req) {
				retry = true // a pooled connection that died between the peek and the write
			}
			return fail(t.readError("read response headers", addr, err))
		}
		switch p[0] {
		case typeGetBodyChunk:
			if err := t.answerGetBodyChunk(c, body, p); err != nil {
				return fail(err)
			}
		case typeSendHeaders:
			resp, err := decodeHeaders(p)
			if err != nil {
				return fail(err)
			}
			if resp.StatusCode < 200 { // interim (1xx): the final headers follow
				continue
			}
			resp.Request = req
			resp.Body = rb
			if resp.StatusCode == http.StatusForbidden && resp.ContentLength >= 0 && resp.ContentLength <= 4096 {
				// Tell the connector's refusal from the application's 403
				// by what follows: Tomcat closes the connection after it.
				data, err := io.ReadAll(rb)
				if err != nil {
					return nil, false, err
				}
				if rb.noReuse {
					return nil, false, fmt.Errorf("%w: %s %s", ErrRefused, req.Method, addr)
				}
				resp.Body = io.NopCloser(bytes.NewReader(data))
			}
			if req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
				// No body: read up to END_RESPONSE now so the connection is free at once.
				if _, err := io.Copy(io.Discard, rb); err != nil {
					return nil, false, err
				}
				resp.Body = http.NoBody
			}
			return resp, false, nil
		default:
			return fail(unexpected(p[0], "before response headers"))
		}
	}
}

// readError describes a failed packet read.
func (t *Transport) readError(op, addr string, err error) error {
	if isTimeout(err) {
		return &timeoutError{op: op, addr: addr, d: t.cfg.ReplyTimeout, err: err}
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return fmt.Errorf("ajp: %s from %s: %w", op, addr, err)
	}
	if isConnGone(err) {
		return fmt.Errorf("ajp: %s from %s: backend closed the connection: %w", op, addr, err)
	}
	return fmt.Errorf("ajp: %s from %s: %w", op, addr, err)
}

func unexpected(typ byte, where string) error {
	switch typ {
	case typeSendBodyChunk, typeSendHeaders, typeEndResponse, typeGetBodyChunk, typeCPong:
		return protoErr("unexpected message type %d %s", typ, where)
	}
	return protoErr("unknown message type %d", typ)
}

// answerGetBodyChunk answers GET_BODY_CHUNK with the next body packet.
func (t *Transport) answerGetBodyChunk(c *conn, body *requestBody, p []byte) error {
	r := packetReader{b: p, off: 1}
	n := r.int()
	if r.err != nil {
		return r.err
	}
	return t.sendBodyChunk(c, body, n+6)
}

// sendBodyChunk sends one body packet with up to limit-6 bytes of data (the
// packet header and data length come first), never more than a packet holds.
// When the body is exhausted the packet is empty, which ends the body for Tomcat.
func (t *Transport) sendBodyChunk(c *conn, body *requestBody, limit int) error {
	limit = max(min(limit, t.cfg.PacketSize)-6, 0)
	buf := c.wbuf[:6+limit]
	n, err := body.read(buf[6:])
	if err != nil {
		return err
	}
	buf[0], buf[1] = magicToServer0, magicToServer1
	if n == 0 {
		buf[2], buf[3] = 0, 0
		if err := c.write(buf[:4], t.cfg.ReplyTimeout); err != nil { // 12 34 00 00: the body ends
			return fmt.Errorf("ajp: send end of request body to %s: %w", c.pool.addr, err)
		}
		return nil
	}
	buf[2], buf[3] = byte((n+2)>>8), byte(n+2)
	buf[4], buf[5] = byte(n>>8), byte(n)
	if err := c.write(buf[:6+n], t.cfg.ReplyTimeout); err != nil {
		return fmt.Errorf("ajp: send request body to %s: %w", c.pool.addr, err)
	}
	return nil
}

// Ping checks that the AJP connector at addr (host:port or ajp://host:port)
// answers CPING with CPONG within Config.PingTimeout, on a new connection.
// Unlike a TCP connect, this fails for a connector that accepts connections
// but is not serving (Tomcat binds the port even when the connector failed
// to start). Errors from the connect match ErrNotSent; a silent connector
// gives an error matching ErrReplyTimeout.
func (t *Transport) Ping(ctx context.Context, addr string) error {
	a, err := normalizeAddr(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout+t.cfg.PingTimeout)
	defer cancel()
	nc, err := t.dial(ctx, a)
	if err != nil {
		return notSent(&dialError{addr: a, err: err})
	}
	c := newConn(nc, nil, DefaultPacketSize)
	defer c.close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	defer stop()
	if err := c.cping(t.cfg.PingTimeout); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("ajp: cping %s: %w", a, ctx.Err())
		}
		if isTimeout(err) {
			return &timeoutError{op: "cping", addr: a, d: t.cfg.PingTimeout, err: err}
		}
		return fmt.Errorf("ajp: cping %s: %w", a, err)
	}
	return nil
}
