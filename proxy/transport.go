package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy/h1"
)

// transports builds the transports of one balancer's members from its
// config: the settings of its transport http block (TLS files read once),
// the HTTP versions to speak, and a key that changes whenever any of them
// does (a reload keeps a member's connections only when its key is the
// same).
//
// Each member gets its own transport, so each has its own keep-alive pool
// and limits:
//
//	http://  HTTP/1.1; with versions h2c, cleartext HTTP/2 (prior knowledge)
//	h2c://   cleartext HTTP/2
//	https:// HTTP/1.1 and HTTP/2 by ALPN (versions narrows it)
//	ajp://   the AJP13 transport (proxy/ajp)
//
// A member that can speak HTTP/2 also gets a transport for gRPC calls,
// which must reach it over HTTP/2: for an https:// member that may answer
// ALPN with http/1.1, one that offers only h2 and refuses the connection
// (errNoH2) when the member does not take it.
type transports struct {
	cfg *config.Balancer
	tr  config.HTTPTransport // the transport http block, or its zero value
	tls *tls.Config          // the members' TLS settings; cloned for each transport
	// What the transport speaks to TLS members (h1, h2) and to cleartext
	// http:// members (h2c: HTTP/2 only).
	h1, h2, h2c bool
	key         string
	// ajp builds an ajp:// member's transport; maxConns is the member's
	// max_conns, which its connection pool honours too.
	ajp func(b *config.Balancer, maxConns int) (http.RoundTripper, error)
}

// Defaults of the member transport where the config leaves a value zero.
const (
	defaultIdleConns      = 256
	defaultTLSTimeout     = 10 * time.Second // net/http's DefaultTransport
	defaultKeepAliveProbe = 30 * time.Second // net.Dialer's, and Caddy's
	defaultExpectContinue = time.Second
	defaultMaxRespHeader  = 1 << 20
	defaultConnBuffer     = 16 << 10
)

func newTransports(cfg *config.Balancer, ajp func(*config.Balancer, int) (http.RoundTripper, error)) (*transports, error) {
	ts := &transports{cfg: cfg, ajp: ajp, h1: true, h2: true}
	if cfg.Transport != nil {
		ts.tr = *cfg.Transport
	}
	t := &ts.tr
	if t.Versions != nil {
		ts.h1 = slices.Contains(t.Versions, "1.1")
		ts.h2 = slices.Contains(t.Versions, "2")
		ts.h2c = slices.Contains(t.Versions, "h2c")
	}
	ts.tls = &tls.Config{
		ServerName:         t.TLSServerName,
		InsecureSkipVerify: t.TLSInsecureSkipVerify, //nolint:gosec // the operator's explicit tls_insecure_skip_verify
		MinVersion:         tls.VersionTLS12,
	}
	switch t.TLSRenegotiation {
	case "once":
		ts.tls.Renegotiation = tls.RenegotiateOnceAsClient
	case "freely":
		ts.tls.Renegotiation = tls.RenegotiateFreelyAsClient
	}
	files := sha256.New() // the content of the files, for the key
	if len(t.TLSTrustedCACerts) > 0 {
		pool := x509.NewCertPool()
		for _, f := range t.TLSTrustedCACerts {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: transport http: tls_trusted_ca_certs: %w", t.Pos, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: transport http: tls_trusted_ca_certs: %s holds no PEM certificate", t.Pos, f)
			}
			files.Write(pem)
		}
		ts.tls.RootCAs = pool
	}
	if t.TLSClientCert != "" {
		certPEM, err := os.ReadFile(t.TLSClientCert)
		if err != nil {
			return nil, fmt.Errorf("%s: transport http: tls_client_auth: %w", t.Pos, err)
		}
		keyPEM, err := os.ReadFile(t.TLSClientKey)
		if err != nil {
			return nil, fmt.Errorf("%s: transport http: tls_client_auth: %w", t.Pos, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: transport http: tls_client_auth: %w", t.Pos, err)
		}
		ts.tls.Certificates = []tls.Certificate{cert}
		files.Write(certPEM)
		files.Write(keyPEM)
	}
	// Everything a member's transport is built from, the files' content
	// included, and not where the block is written: a reload that moves it
	// keeps the members, their connections and counters.
	k := *t
	k.Pos = config.Pos{}
	ts.key = fmt.Sprintf("%+v|%v|%v|%v|%d|%x", k, cfg.DialTimeout, cfg.ResponseHeaderTimeout, cfg.IdleTimeout, cfg.MaxIdleConns, files.Sum(nil))
	return ts, nil
}

// member returns the transport of a member reached by scheme, and its gRPC
// transport (nil when the member cannot carry gRPC: it speaks HTTP/1.1 or
// AJP).
func (ts *transports) member(scheme, addr string, maxConns int) (rt, grpc http.RoundTripper, err error) {
	switch scheme {
	case "http":
		if ts.h2c {
			rt = ts.http(h2cOnly(), nil)
			return rt, rt, nil
		}
		return ts.h1Client(addr, ts.http(h1Only(), nil)), nil, nil
	case "h2c":
		rt = ts.http(h2cOnly(), nil)
		return rt, rt, nil
	case "https":
		var p http.Protocols
		p.SetHTTP1(ts.h1)
		p.SetHTTP2(ts.h2)
		if !ts.h2 {
			return ts.http(p, nil), nil, nil
		}
		// Over TLS a member chooses by ALPN; gRPC must not fall back to
		// HTTP/1.1 (nor must an h2-only transport, which net/http would
		// otherwise run as HTTP/1.1 with a member that ignores ALPN).
		var h2 http.Protocols
		h2.SetHTTP2(true)
		grpc = ts.http(h2, ts.dialH2)
		if !ts.h1 {
			return grpc, grpc, nil
		}
		return ts.http(p, nil), grpc, nil
	case "ajp":
		if ts.ajp == nil {
			return nil, nil, errors.New("ajp:// members are not supported by this build")
		}
		rt, err = ts.ajp(ts.cfg, maxConns)
		return rt, nil, err
	}
	return nil, nil, fmt.Errorf("unsupported scheme %q (want http, https, h2c or ajp)", scheme)
}

func h1Only() http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	return p
}

func h2cOnly() http.Protocols {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return p
}

// http is the tuned net/http transport of one member: a keep-alive pool
// large enough for a busy front door, finite dial, TLS and response-header
// timeouts, no proxy from the environment (a load balancer must never send
// its member traffic through HTTP_PROXY by accident), and no compression
// asked of members (answers pass through as members send them). dialTLS,
// when set, makes the TLS connections itself.
func (ts *transports) http(protocols http.Protocols, dialTLS func(context.Context, string, string) (net.Conn, error)) *http.Transport {
	t, cfg := &ts.tr, ts.cfg
	idlePerMember := cmpOr(cfg.MaxIdleConns, defaultIdleConns)
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            ts.dial,
		DialTLSContext:         dialTLS,
		TLSClientConfig:        ts.tls.Clone(),
		TLSHandshakeTimeout:    orDefault(t.TLSTimeout, defaultTLSTimeout),
		DisableKeepAlives:      t.KeepAliveOff,
		MaxIdleConns:           cmpOr(t.MaxIdleConns, idlePerMember),
		MaxIdleConnsPerHost:    idlePerMember,
		MaxConnsPerHost:        t.MaxConnsPerHost,
		IdleConnTimeout:        orDefault(cfg.IdleTimeout, 90*time.Second),
		ResponseHeaderTimeout:  orDefault(cfg.ResponseHeaderTimeout, 60*time.Second),
		ExpectContinueTimeout:  orDefault(t.ExpectContinueTimeout, defaultExpectContinue),
		MaxResponseHeaderBytes: cmpOr(t.MaxResponseHeader, defaultMaxRespHeader),
		WriteBufferSize:        cmpOr(t.WriteBuffer, defaultConnBuffer),
		ReadBufferSize:         cmpOr(t.ReadBuffer, defaultConnBuffer),
		DisableCompression:     true,
		Protocols:              &protocols,
	}
}

// StdMemberClient makes every member's client net/http's transport (the
// design before proxy/h1), for benchmarks that compare the two in one run;
// cmd/tether sets it from TETHER_MEMBER_CLIENT=net/http.
var StdMemberClient bool

// h1Client is the client of a member reached over cleartext HTTP/1.1: Tether's
// own (proxy/h1) for requests without a body, on the request's goroutine;
// std, net/http's transport, for the rest. A transport block that asks for
// what proxy/h1 does not do (keepalive off, max_conns_per_host) gets std
// alone.
func (ts *transports) h1Client(addr string, std *http.Transport) http.RoundTripper {
	t, cfg := &ts.tr, ts.cfg
	if t.KeepAliveOff || t.MaxConnsPerHost > 0 || StdMemberClient {
		return std
	}
	// The idle connections std keeps of its one member: the lesser of
	// max_idle_conns and keepalive_idle_conns (see http).
	idle := cmpOr(cfg.MaxIdleConns, defaultIdleConns)
	if t.MaxIdleConns > 0 {
		idle = min(idle, t.MaxIdleConns)
	}
	return &h1.Client{
		Addr:                   addr,
		Dial:                   ts.dial,
		Fallback:               std,
		MaxIdle:                idle,
		IdleTimeout:            orDefault(cfg.IdleTimeout, 90*time.Second),
		ResponseHeaderTimeout:  orDefault(cfg.ResponseHeaderTimeout, 60*time.Second),
		MaxResponseHeaderBytes: cmpOr(t.MaxResponseHeader, defaultMaxRespHeader),
		ReadBufferSize:         int(cmpOr(int64(t.ReadBuffer), defaultConnBuffer)),
		WriteBufferSize:        int(cmpOr(int64(t.WriteBuffer), defaultConnBuffer)),
	}
}

// dial connects to a member: dial_timeout, TCP keep-alive probes every
// keepalive_interval, and read_timeout/write_timeout on every read and
// write when set.
func (ts *transports) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	t := &ts.tr
	d := net.Dialer{
		Timeout:       orDefault(ts.cfg.DialTimeout, 3*time.Second),
		KeepAlive:     orDefault(t.KeepAliveInterval, defaultKeepAliveProbe),
		FallbackDelay: t.DialFallbackDelay,
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil || t.ReadTimeout == 0 && t.WriteTimeout == 0 {
		return c, err
	}
	return &deadlineConn{Conn: c, read: t.ReadTimeout, write: t.WriteTimeout}, nil
}

// dialH2 makes a TLS connection that has agreed on HTTP/2 by ALPN; a
// member that does not take h2 gets its connection closed and the call an
// errNoH2.
func (ts *transports) dialH2(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := ts.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := ts.tls.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	// Offer http/1.1 too, so that a member without h2 says so instead of
	// failing the handshake (Go's server refuses a client whose protocols
	// it has none of).
	cfg.NextProtos = []string{"h2", "http/1.1"}
	tc := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, orDefault(ts.tr.TLSTimeout, defaultTLSTimeout))
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		tc.Close()
		return nil, &noH2Error{addr: addr, proto: p}
	}
	return tc, nil
}

// noH2Error is a member that would not speak HTTP/2 to a gRPC call: the
// call is refused with UNIMPLEMENTED; the member is not at fault.
type noH2Error struct{ addr, proto string }

func (e *noH2Error) Error() string {
	p := e.proto
	if p == "" {
		p = "none"
	}
	return "member " + e.addr + " did not agree on HTTP/2 by ALPN (chose " + p + ")"
}

// deadlineConn sets a deadline before every read and write (transport
// http's read_timeout and write_timeout).
type deadlineConn struct {
	net.Conn
	read, write time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.read > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.read)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if c.write > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// cmpOr is v, or def when v is zero.
func cmpOr[T int | int64](v, def T) T {
	if v != 0 {
		return v
	}
	return def
}

// schemeOut is the scheme of the outbound URL for a member's scheme: an
// h2c:// member is an http:// URL to a transport that speaks HTTP/2.
func schemeOut(scheme string) string {
	if scheme == "h2c" {
		return "http"
	}
	return scheme
}

// grpcRefusal says why a set of members cannot carry gRPC calls, or "".
func grpcRefusal(members []*member) string {
	for _, m := range members {
		if m.grpc == nil {
			return "member " + m.name + " (" + m.target.String() + ") is reached over " + protoName(m.target.Scheme) +
				"; gRPC needs HTTP/2 members (h2c://, or https:// with versions 2)"
		}
	}
	return ""
}

func protoName(scheme string) string {
	if strings.EqualFold(scheme, "ajp") {
		return "AJP"
	}
	return "HTTP/1.1"
}
