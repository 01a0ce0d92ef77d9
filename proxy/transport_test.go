package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
)

// tlsMember is an HTTPS member with a certificate for "member.test" (no IP
// address in it), recording what it saw of each request.
type tlsMember struct {
	*httptest.Server
	ca     string // the certificate's PEM file: what Tether must trust
	sni    atomic.Value
	proto  atomic.Value
	client atomic.Value // the client certificate's DER, if one came
}

// newTLSMember starts it; configure adjusts the server's TLS settings
// (client certificates, HTTP/2) before it starts.
func newTLSMember(t *testing.T, configure func(*httptest.Server)) *tlsMember {
	t.Helper()
	certFile, keyFile, _ := testpeers.WriteSelfSigned(t, t.TempDir(), "member.test")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	m := &tlsMember{ca: certFile}
	m.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.proto.Store(r.Proto)
		if len(r.TLS.PeerCertificates) > 0 {
			m.client.Store(r.TLS.PeerCertificates[0].Raw)
		}
		fmt.Fprintf(w, "%s over TLS\n", r.Proto)
	}))
	m.EnableHTTP2 = true
	m.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			m.sni.Store(h.ServerName)
			return nil, nil
		},
	}
	if configure != nil {
		configure(m.Server)
	}
	m.StartTLS()
	t.Cleanup(m.Close)
	return m
}

func (m *tlsMember) hostport() string { return strings.TrimPrefix(m.URL, "https://") }

// get asks the proxy at site for path and returns the status and body.
func get(t *testing.T, site, path string) (int, string) {
	t.Helper()
	resp, body := testpeers.Get(t, site+path, nil)
	return resp.StatusCode, body
}

// TestTransportTLS: the TLS options of transport http, each against a real
// TLS member: what Tether verifies, the name it sends, the certificate it
// presents, and members written without a scheme.
func TestTransportTLS(t *testing.T) {
	m := newTLSMember(t, nil)
	trust := "\t\t\ttls_trusted_ca_certs " + m.ca + "\n\t\t\ttls_server_name member.test\n"
	for _, tc := range []struct {
		name, members, transport string
		wantStatus               int
		wantProto                string // what the member saw
	}{
		{"https member, default roots: its certificate is not trusted", "a=https://" + m.hostport(), "", http.StatusBadGateway, ""},
		{"tls_trusted_ca_certs without tls_server_name: the name is the IP", "a=https://" + m.hostport(), "\t\t\ttls_trusted_ca_certs " + m.ca + "\n", http.StatusBadGateway, ""},
		{"tls_trusted_ca_certs and tls_server_name", "a=https://" + m.hostport(), trust, http.StatusOK, "HTTP/2.0"},
		{"tls_trust_pool file", "a=https://" + m.hostport(), "\t\t\ttls_trust_pool file " + m.ca + "\n\t\t\ttls_server_name member.test\n", http.StatusOK, "HTTP/2.0"},
		{"tls on a member without scheme", "a=" + m.hostport(), "\t\t\ttls\n" + trust, http.StatusOK, "HTTP/2.0"},
		{"tls_insecure_skip_verify", "a=" + m.hostport(), "\t\t\ttls_insecure_skip_verify\n", http.StatusOK, "HTTP/2.0"},
		{"versions 1.1", "a=https://" + m.hostport(), trust + "\t\t\tversions 1.1\n", http.StatusOK, "HTTP/1.1"},
		{"versions 2", "a=https://" + m.hostport(), trust + "\t\t\tversions 2\n", http.StatusOK, "HTTP/2.0"},
		{"tls_renegotiation once (accepted; Go's server never asks)", "a=https://" + m.hostport(), trust + "\t\t\ttls_renegotiation once\n", http.StatusOK, "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.proto.Store("")
			m.sni.Store("")
			_, site := startProxy(t, oneBalancer(tc.members, "\t\ttransport http {\n"+tc.transport+"\t\t}"), nil)
			code, body := get(t, site, "/")
			if code != tc.wantStatus || m.proto.Load() != tc.wantProto {
				t.Errorf("GET = %d %q, member saw %q; want %d, member %q", code, body, m.proto.Load(), tc.wantStatus, tc.wantProto)
			}
			if tc.wantStatus == http.StatusOK && strings.Contains(tc.transport, "tls_server_name") && m.sni.Load() != "member.test" {
				t.Errorf("SNI %q; want member.test (tls_server_name)", m.sni.Load())
			}
		})
	}

	t.Run("tls_client_auth", func(t *testing.T) {
		needs := newTLSMember(t, func(s *httptest.Server) { s.TLS.ClientAuth = tls.RequireAnyClientCert })
		dir := t.TempDir()
		certFile, keyFile, der := testpeers.WriteSelfSigned(t, dir, "tether.client")
		base := "\t\t\ttls_trusted_ca_certs " + needs.ca + "\n\t\t\ttls_server_name member.test\n"
		_, site := startProxy(t, oneBalancer("a=https://"+needs.hostport(), "\t\ttransport http {\n"+base+"\t\t}"), nil)
		if code, _ := get(t, site, "/"); code != http.StatusBadGateway {
			t.Errorf("without tls_client_auth: %d; want 502 (the member requires a certificate)", code)
		}
		_, site = startProxy(t, oneBalancer("a=https://"+needs.hostport(), "\t\ttransport http {\n"+base+"\t\t\ttls_client_auth "+certFile+" "+keyFile+"\n\t\t}"), nil)
		if code, _ := get(t, site, "/"); code != http.StatusOK {
			t.Errorf("with tls_client_auth: %d; want 200", code)
		}
		if got, _ := needs.client.Load().([]byte); !bytes.Equal(got, der) {
			t.Error("the member did not get tls_client_auth's certificate")
		}
	})

	t.Run("tls_except_ports", func(t *testing.T) {
		plain := newBackend(t, "plain", nil)
		_, port, _ := net.SplitHostPort(plain.hostport())
		_, site := startProxy(t, oneBalancer("a="+m.hostport()+" b="+plain.hostport(),
			"\t\tlb_policy round_robin\n\t\ttransport http {\n"+trust+"\t\t\ttls_except_ports "+port+"\n\t\t}"), nil)
		seen := map[string]bool{}
		for range 4 {
			code, body := get(t, site, "/")
			if code != http.StatusOK {
				t.Fatalf("GET = %d %q", code, body)
			}
			seen[strings.TrimSpace(body)] = true
		}
		if !seen["HTTP/2.0 over TLS"] || !seen["hello from plain"] {
			t.Errorf("answers %v; want the TLS member's and the plain one's (its port is excepted)", seen)
		}
	})

	t.Run("tls_timeout", func(t *testing.T) {
		// A member that accepts connections and never answers the TLS
		// handshake.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var held []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			for _, c := range held {
				c.Close()
			}
			mu.Unlock()
		})
		_, site := startProxy(t, oneBalancer("a=https://"+ln.Addr().String(), "\t\ttransport http {\n\t\t\ttls_timeout 200ms\n\t\t}"), nil)
		if code, _ := get(t, site, "/"); code != http.StatusGatewayTimeout {
			t.Errorf("GET = %d; want 504 (the handshake timed out)", code)
		}
	})
}

// countingMember is an HTTP member that counts its connections: opened,
// closed, and the most open at once.
type countingMember struct {
	*backend
	opened, closed, open, maxOpen atomic.Int64
}

func newCountingMember(t *testing.T, h http.HandlerFunc) *countingMember {
	t.Helper()
	c := &countingMember{}
	c.backend = &backend{route: "m"}
	c.backend.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprintf(w, "%s accept-encoding=%q\n", r.Proto, r.Header.Get("Accept-Encoding"))
	}))
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			c.opened.Add(1)
			n := c.open.Add(1)
			for {
				m := c.maxOpen.Load()
				if n <= m || c.maxOpen.CompareAndSwap(m, n) {
					break
				}
			}
		case http.StateClosed, http.StateHijacked:
			c.closed.Add(1)
			c.open.Add(-1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

// TestTransportConnections: the keep-alive and connection options of
// transport http, observed at the member.
func TestTransportConnections(t *testing.T) {
	t.Run("keepalive off", func(t *testing.T) {
		m := newCountingMember(t, nil)
		_, site := startProxy(t, oneBalancer("a=http://"+m.hostport(), "\t\ttransport http {\n\t\t\tkeepalive off\n\t\t}"), nil)
		for range 3 {
			get(t, site, "/")
		}
		if got := m.opened.Load(); got != 3 {
			t.Errorf("3 requests opened %d connections; want 3 (keepalive off)", got)
		}
	})
	t.Run("keep-alive by default", func(t *testing.T) {
		m := newCountingMember(t, nil)
		_, site := startProxy(t, oneBalancer("a=http://"+m.hostport(), ""), nil)
		for range 3 {
			get(t, site, "/")
		}
		if got := m.opened.Load(); got != 1 {
			t.Errorf("3 requests opened %d connections; want 1", got)
		}
	})
	t.Run("keepalive D closes idle connections", func(t *testing.T) {
		m := newCountingMember(t, nil)
		_, site := startProxy(t, oneBalancer("a=http://"+m.hostport(), "\t\ttransport http {\n\t\t\tkeepalive 200ms\n\t\t}"), nil)
		get(t, site, "/")
		testpeers.WaitUntil(t, 5*time.Second, "the idle member connection closed", func() bool { return m.closed.Load() == 1 })
	})
	// Four requests at once, then all idle: the pool keeps N.
	burst := func(t *testing.T, site string, m *countingMember, release chan struct{}) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { get(t, site, "/") })
		}
		testpeers.WaitUntil(t, 5*time.Second, "4 requests at the member", func() bool { return m.hits.Load() == 4 })
		close(release)
		wg.Wait()
	}
	for _, opt := range []string{"keepalive_idle_conns_per_host 1", "keepalive_idle_conns 1"} {
		t.Run(opt, func(t *testing.T) {
			release := make(chan struct{})
			m := newCountingMember(t, func(w http.ResponseWriter, r *http.Request) { <-release })
			_, site := startProxy(t, oneBalancer("a=http://"+m.hostport(), "\t\ttransport http {\n\t\t\t"+opt+"\n\t\t}"), nil)
			burst(t, site, m, release)
			testpeers.WaitUntil(t, 5*time.Second, "3 of 4 connections closed", func() bool { return m.closed.Load() == 3 })
		})
	}
	t.Run("max_conns_per_host", func(t *testing.T) {
		release := make(chan struct{})
		var busy atomic.Int64
		m := newCountingMember(t, func(w http.ResponseWriter, r *http.Request) {
			busy.Add(1)
			<-release
		})
		_, site := startProxy(t, oneBalancer("a=http://"+m.hostport(), "\t\ttransport http {\n\t\t\tmax_conns_per_host 1\n\t\t}"), nil)
		var wg sync.WaitGroup
		codes := make(chan int, 3)
		for range 3 {
			wg.Go(func() {
				code, _ := get(t, site, "/")
				codes <- code
			})
		}
		testpeers.WaitUntil(t, 5*time.Second, "a request at the member", func() bool { return busy.Load() == 1 })
		close(release)
		wg.Wait()
		close(codes)
		for code := range codes {
			if code != http.StatusOK {
				t.Errorf("a request waiting for the one connection got %d; want 200", code)
			}
		}
		if m.maxOpen.Load() != 1 || m.hits.Load() != 3 {
			t.Errorf("member: at most %d connections open, %d requests; want 1 and 3", m.maxOpen.Load(), m.hits.Load())
		}
	})
	t.Run("compression off", func(t *testing.T) {
		m := newCountingMember(t, nil)
		_, site := startProxy(t, oneBalancer("a=http://"+m.hostport(), "\t\ttransport http {\n\t\t\tcompression off\n\t\t}"), nil)
		c := &http.Client{Transport: &http.Transport{DisableCompression: true}} // sends no Accept-Encoding
		resp, err := c.Get(site + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if body := string(b); !strings.Contains(body, `accept-encoding=""`) {
			t.Errorf("member saw %q; want no Accept-Encoding asked for the client", body)
		}
	})
	t.Run("versions h2c on an http member", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })}
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		for _, tc := range []struct{ members, transport, want string }{
			{"a=http://" + ln.Addr().String(), "", "HTTP/1.1"},
			{"a=http://" + ln.Addr().String(), "\t\ttransport http {\n\t\t\tversions h2c\n\t\t}", "HTTP/2.0"},
			{"a=h2c://" + ln.Addr().String(), "", "HTTP/2.0"},
		} {
			_, site := startProxy(t, oneBalancer(tc.members, tc.transport), nil)
			if code, body := get(t, site, "/"); code != http.StatusOK || body != tc.want {
				t.Errorf("%s %q: %d %q; want %s at the member", tc.members, tc.transport, code, body, tc.want)
			}
		}
	})
}

// TestTransportLimits: the timeouts and size limits of transport http.
func TestTransportLimits(t *testing.T) {
	t.Run("response_header_timeout", func(t *testing.T) {
		slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		})
		_, site := startProxy(t, oneBalancer("a=http://"+slow.hostport(), "\t\ttransport http {\n\t\t\tresponse_header_timeout 200ms\n\t\t}"), nil)
		if code, _ := get(t, site, "/"); code != http.StatusGatewayTimeout {
			t.Errorf("GET = %d; want 504", code)
		}
	})
	t.Run("read_timeout cuts a silent answer", func(t *testing.T) {
		stall := newBackend(t, "stall", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "first part\n")
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			io.WriteString(w, "second part\n")
		})
		_, site := startProxy(t, oneBalancer("a=http://"+stall.hostport(), "\t\ttransport http {\n\t\t\tread_timeout 300ms\n\t\t}"), nil)
		resp, err := http.Get(site + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || string(body) != "first part\n" {
			t.Errorf("body %q, %v; want the first part, then the answer cut", body, err)
		}
	})
	t.Run("max_response_header", func(t *testing.T) {
		big := newBackend(t, "big", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Big", strings.Repeat("b", 4000))
		})
		for _, tc := range []struct {
			transport string
			want      int
		}{
			{"", http.StatusOK},
			{"\t\ttransport http {\n\t\t\tmax_response_header 2KiB\n\t\t}", http.StatusBadGateway},
		} {
			_, site := startProxy(t, oneBalancer("a=http://"+big.hostport(), tc.transport), nil)
			if code, _ := get(t, site, "/"); code != tc.want {
				t.Errorf("%q: a 4 KB header: %d; want %d", tc.transport, code, tc.want)
			}
		}
	})
	t.Run("write_timeout", func(t *testing.T) {
		// A peer that never reads: writes past the socket buffers block.
		a, b := net.Pipe()
		defer b.Close()
		c := &deadlineConn{Conn: a, write: 100 * time.Millisecond}
		if _, err := c.Write(make([]byte, 1<<10)); !isTimeout(err) {
			t.Errorf("write to a peer that does not read: %v; want a timeout", err)
		}
	})
}

// TestTransportSettings: the options whose effect a loopback member
// cannot show (TCP keep-alive probes, happy eyeballs, buffer sizes, the
// 100-continue wait, renegotiation) reach the transport Tether builds.
func TestTransportSettings(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(`a.com {
	reverse_proxy https://10.0.0.1 {
		transport http {
			read_buffer 8KiB
			write_buffer 32KiB
			expect_continue_timeout 250ms
			tls_renegotiation freely
			keepalive_interval 15s
			dial_fallback_delay -1s
			keepalive_idle_conns 7
			keepalive_idle_conns_per_host 5
			max_conns_per_host 9
			keepalive 45s
			dial_timeout 2s
			response_header_timeout 20s
			tls_timeout 4s
		}
	}
}
`))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := newTransports(cfg.Sites[0].Balancers[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, grpc, err := ts.member("https", "127.0.0.1:1", 0)
	if err != nil || grpc == nil {
		t.Fatalf("member(https) = %v, %v, %v", rt, grpc, err)
	}
	tr := rt.(*http.Transport)
	if tr.ReadBufferSize != 8<<10 || tr.WriteBufferSize != 32<<10 || tr.ExpectContinueTimeout != 250*time.Millisecond ||
		tr.MaxIdleConns != 7 || tr.MaxIdleConnsPerHost != 5 || tr.MaxConnsPerHost != 9 || tr.IdleConnTimeout != 45*time.Second ||
		tr.ResponseHeaderTimeout != 20*time.Second || tr.TLSHandshakeTimeout != 4*time.Second ||
		tr.TLSClientConfig.Renegotiation != tls.RenegotiateFreelyAsClient || !tr.DisableCompression || tr.Proxy != nil {
		t.Errorf("transport %+v: not the configured settings", tr)
	}
	if !tr.Protocols.HTTP1() || !tr.Protocols.HTTP2() {
		t.Errorf("protocols %v; want HTTP/1.1 and HTTP/2 (versions' default)", tr.Protocols)
	}
	if g := grpc.(*http.Transport); g.Protocols.HTTP1() || !g.Protocols.HTTP2() || g.DialTLSContext == nil {
		t.Errorf("gRPC transport protocols %v, own TLS dial %v; want HTTP/2 only, ALPN checked", g.Protocols, g.DialTLSContext != nil)
	}
	if ts.tr.KeepAliveInterval != 15*time.Second || ts.tr.DialFallbackDelay >= 0 {
		t.Errorf("dialer settings %v, %v; want 15s and negative (fallback off)", ts.tr.KeepAliveInterval, ts.tr.DialFallbackDelay)
	}
}

// TestTransportReload: a reload that changes a balancer's transport
// rebuilds its members' transports (same names and URLs, new settings);
// one that does not keeps their connections.
func TestTransportReload(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	src := func(transport string) string { return oneBalancer("a=http://"+ln.Addr().String(), transport) }
	s, site := startProxy(t, src(""), nil)
	member := func() *member { return s.balancerList()[0].set.Load().members[0] }
	before := member()
	if _, body := get(t, site, "/"); body != "HTTP/1.1" {
		t.Fatalf("before the reload: %q; want HTTP/1.1", body)
	}
	if err := reloadSrc(t, s, src("")); err != nil {
		t.Fatal(err)
	}
	if member() != before {
		t.Error("a reload without changes replaced the member")
	}
	// The same transport written elsewhere in the file: the same member.
	if err := reloadSrc(t, s, src("\t\ttransport http {\n\t\t\tversions 1.1\n\t\t}")); err != nil {
		t.Fatal(err)
	}
	kept := member()
	if err := reloadSrc(t, s, "# moved down a line\n"+src("\t\ttransport http {\n\t\t\tversions 1.1\n\t\t}")); err != nil {
		t.Fatal(err)
	}
	if member() != kept {
		t.Error("a reload that only moved the transport block replaced the member")
	}
	if err := reloadSrc(t, s, src("\t\ttransport http {\n\t\t\tversions h2c\n\t\t}")); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, site, "/"); body != "HTTP/2.0" {
		t.Errorf("after the reload to versions h2c: %q; want HTTP/2.0", body)
	}
}

// TestRetryAfterWriteFailure: a request whose head could not be written
// to its member (the member died under a live HTTP/2 connection) never
// reached it and is retried whatever its method, unless part of its body
// was consumed; a failure after the head was sent is not.
func TestRetryAfterWriteFailure(t *testing.T) {
	b := &Balancer{}
	writeErr := fmt.Errorf("http2: %w", &net.OpError{Op: "write", Net: "tcp", Err: errors.New("broken pipe")})
	readErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	post := httptest.NewRequest(http.MethodPost, "/pkg.Svc/Call", nil)
	unread, read := &clientBody{}, &clientBody{}
	read.read.Store(true)
	for _, tc := range []struct {
		name string
		body *clientBody
		err  error
		want bool
	}{
		{"write failed, body unread", unread, writeErr, true},
		{"write failed, no body", nil, writeErr, true},
		{"write failed, body partly sent", read, writeErr, false},
		{"read failed (the member may have acted)", unread, readErr, false},
	} {
		if got := b.retryable(post, tc.body, tc.err); got != tc.want {
			t.Errorf("%s: retryable(POST, %v) = %v; want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
