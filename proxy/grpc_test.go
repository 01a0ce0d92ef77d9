package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// grpcMember is a real grpc-go server with the standard health service,
// counting the calls it gets.
type grpcMember struct {
	addr   string
	health *health.Server
	srv    *grpc.Server
	calls  atomic.Int64
}

// newGRPCMember serves the health service on 127.0.0.1, in cleartext
// (h2c) when creds is nil, else with creds. Service "app" is SERVING.
func newGRPCMember(t testing.TB, creds credentials.TransportCredentials) *grpcMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &grpcMember{addr: ln.Addr().String(), health: health.NewServer()}
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			g.calls.Add(1)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			g.calls.Add(1)
			return h(srv, ss)
		}),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	g.srv = grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(g.srv, g.health)
	g.health.SetServingStatus("app", healthpb.HealthCheckResponse_SERVING)
	go g.srv.Serve(ln)
	t.Cleanup(g.srv.Stop)
	return g
}

// memberTLS writes a certificate for "member.test" into a new directory
// and returns the server credentials and the certificate's file (what
// Tether is told to trust).
func memberTLS(t testing.TB) (credentials.TransportCredentials, string) {
	t.Helper()
	certFile, keyFile, _ := testpeers.WriteSelfSigned(t, t.TempDir(), "member.test")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), certFile
}

// grpcEdge runs Tether with one https site (a self-signed certificate for
// "localhost") whose balancer block is body, and returns the server and a
// grpc-go client connected to it over TLS (h2).
func grpcEdge(t *testing.T, body string) (*Server, *grpc.ClientConn) {
	t.Helper()
	s, addr, pool := tlsEdge(t, "", body)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn
}

// tlsEdge runs Tether with one https site for "localhost" (a self-signed
// certificate) with the site directives siteExtra and one balancer named
// grpc whose block is body. It returns the server, its address and a pool
// that trusts its certificate.
func tlsEdge(t *testing.T, siteExtra, body string) (*Server, string, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, der := testpeers.WriteSelfSigned(t, dir, "localhost")
	port := freePort(t)
	src := fmt.Sprintf(`{
	admin off
	storage file %s
}
https://localhost:%d {
	tls %s %s
%s
	reverse_proxy {
		name grpc
%s
	}
}
`, filepath.Join(dir, "data"), port, certFile, keyFile, siteExtra, body)
	s, _ := startProxy(t, src, nil)
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(der)
	pool.AddCert(leaf)
	return s, "127.0.0.1:" + strconv.Itoa(port), pool
}

func memberStatus(t *testing.T, s *Server, name string) MemberStatus {
	t.Helper()
	for _, m := range s.Status().Balancers[0].Members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no member %s", name)
	return MemberStatus{}
}

// TestGRPCThroughTether: grpc-go's health service behind Tether, reached
// over cleartext HTTP/2 (an h2c:// member, and an http:// member with
// versions h2c) and over TLS (an https:// member whose certificate Tether
// verifies): unary Check, a failing Check whose grpc-status (NOT_FOUND)
// and message arrive from the member's trailers, and a streaming Watch that
// receives a status the member pushes after the stream began.
func TestGRPCThroughTether(t *testing.T) {
	creds, caFile := memberTLS(t)
	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
		block func(addr string) string
	}{
		{"h2c member", nil, func(addr string) string { return "\t\tto app=h2c://" + addr }},
		{"http member with versions h2c", nil, func(addr string) string {
			return "\t\tto app=http://" + addr + "\n\t\ttransport http {\n\t\t\tversions h2c\n\t\t}"
		}},
		{"TLS member", creds, func(addr string) string {
			return "\t\tto app=https://" + addr + "\n\t\ttransport http {\n\t\t\ttls_trusted_ca_certs " + caFile + "\n\t\t\ttls_server_name member.test\n\t\t}"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newGRPCMember(t, tc.creds)
			s, conn := grpcEdge(t, tc.block(m.addr))
			hc := healthpb.NewHealthClient(conn)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()

			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "app"})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Check(app) = %v, %v; want SERVING", resp, err)
			}
			_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
			if st := status.Convert(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), "unknown service") {
				t.Errorf("Check(nope) = %v; want NOT_FOUND with the member's message", err)
			}

			watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "app"})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Watch first message = %v, %v; want SERVING", r, err)
			}
			// Pushed by the member after the stream began: it arrives only
			// if Tether forwards the stream as it flows.
			m.health.SetServingStatus("app", healthpb.HealthCheckResponse_NOT_SERVING)
			if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Fatalf("Watch second message = %v, %v; want NOT_SERVING pushed by the member", r, err)
			}
			if calls := m.calls.Load(); calls != 3 {
				t.Errorf("member got %d calls; want 3", calls)
			}
			ms := memberStatus(t, s, "app")
			if !ms.Healthy || ms.Errors != 0 || ms.Responses.Transport != 0 || ms.InFlight != 1 {
				t.Errorf("member healthy %v, errors %d, transport %d, in flight %d; want healthy, no errors, the Watch in flight",
					ms.Healthy, ms.Errors, ms.Responses.Transport, ms.InFlight)
			}
			// The client ends the stream: its doing, never the member's.
			cancel()
			testpeers.WaitUntil(t, 5*time.Second, "the cancelled Watch leaves", func() bool {
				return memberStatus(t, s, "app").InFlight == 0
			})
			checkMembersUntouched(t, s, "cancelled Watch")
		})
	}
}

// TestGRPCFailover: with two h2c members, calls are balanced over both;
// when one is killed, every call still succeeds (a refused connect is
// retried on the other member) and the killed member is counted down, as
// for HTTP/1.1 members.
func TestGRPCFailover(t *testing.T) {
	a, b := newGRPCMember(t, nil), newGRPCMember(t, nil)
	s, conn := grpcEdge(t, "\t\tto a=h2c://"+a.addr+" b=h2c://"+b.addr+"\n\t\tlb_policy round_robin")
	hc := healthpb.NewHealthClient(conn)
	check := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "app"})
		return err
	}
	for i := range 4 {
		if err := check(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if a.calls.Load() != 2 || b.calls.Load() != 2 {
		t.Fatalf("round robin: a %d, b %d calls; want 2 and 2", a.calls.Load(), b.calls.Load())
	}
	a.srv.Stop() // closes its listener and its connections
	for i := range 6 {
		if err := check(); err != nil {
			t.Fatalf("call %d after a was killed: %v", i, err)
		}
	}
	if got := b.calls.Load(); got != 8 {
		t.Errorf("b got %d calls; want 8 (all 6 after a was killed)", got)
	}
	ma, mb := memberStatus(t, s, "a"), memberStatus(t, s, "b")
	if ma.Healthy || ma.Errors == 0 || ma.Reason == "" {
		t.Errorf("killed member a: healthy %v, errors %d, reason %q; want down with its failure counted", ma.Healthy, ma.Errors, ma.Reason)
	}
	if !mb.Healthy || mb.Errors != 0 {
		t.Errorf("member b: healthy %v, errors %d; want healthy without errors", mb.Healthy, mb.Errors)
	}
}

// TestGRPCToHTTP1Members: a grpc-go client calling a balancer whose member
// speaks only HTTP/1.1 gets UNIMPLEMENTED with a message saying why; the
// member is not asked and stays up. The same for a TLS member that answers
// ALPN with http/1.1 only: it is asked nothing over HTTP/1.1, is not
// counted down, and still serves HTTP/1.1 requests.
func TestGRPCToHTTP1Members(t *testing.T) {
	t.Run("http member", func(t *testing.T) {
		app := newBackend(t, "app", nil)
		s, conn := grpcEdge(t, "\t\tto app=http://"+app.hostport()+"\n\t\tmax_fails 1")
		_, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "app"})
		t.Logf("grpc-go client: %v", err)
		if st := status.Convert(err); st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "member app (http://"+app.hostport()+") is reached over HTTP/1.1") {
			t.Errorf("Check = %v; want UNIMPLEMENTED naming the HTTP/1.1 member", err)
		}
		if app.hits.Load() != 0 {
			t.Errorf("the member got %d requests; want none", app.hits.Load())
		}
		checkMembersUntouched(t, s, "gRPC to an HTTP/1.1 member")
	})
	t.Run("TLS member without h2", func(t *testing.T) {
		var hits atomic.Int64
		h1 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			fmt.Fprintf(w, "%s\n", r.Proto)
		}))
		h1.EnableHTTP2 = false
		h1.StartTLS()
		t.Cleanup(h1.Close)
		ca := filepath.Join(t.TempDir(), "ca.pem")
		writeCertPEM(t, ca, h1.Certificate())
		addr := strings.TrimPrefix(h1.URL, "https://")
		s, conn := grpcEdge(t, "\t\tto app=https://"+addr+"\n\t\tmax_fails 1\n\t\ttransport http {\n\t\t\ttls_trusted_ca_certs "+ca+"\n\t\t\ttls_server_name example.com\n\t\t}")
		for range 3 {
			_, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "app"})
			if st := status.Convert(err); st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "did not agree on HTTP/2") {
				t.Fatalf("Check = %v; want UNIMPLEMENTED: the member did not agree on HTTP/2", err)
			}
		}
		if hits.Load() != 0 {
			t.Errorf("the member got %d requests; want none", hits.Load())
		}
		checkMembersUntouched(t, s, "gRPC to a TLS member without h2")
		// Plain HTTP still reaches it (over HTTP/1.1, which it chose).
		_, port, _ := strings.Cut(strings.TrimPrefix(conn.Target(), "127.0.0.1"), ":")
		req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+port+"/", nil)
		req.Host = "localhost"
		resp, err := httpsClientInsecure().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
			t.Errorf("GET after the refused calls: %d, member hits %d; want 200 from the member", resp.StatusCode, hits.Load())
		}
	})
}

func writeCertPEM(t *testing.T, path string, c *x509.Certificate) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func httpsClientInsecure() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}, //nolint:gosec // a test's own self-signed edge
	}}
}

// TestGRPCStreamNotPacedAsUpload: a gRPC call's body is a stream of
// messages at the application's pace: body_min_rate does not end it (it
// would end the same body sent as an upload), and each message reaches the
// member as the client sends it.
func TestGRPCStreamNotPacedAsUpload(t *testing.T) {
	var got atomic.Value
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	member := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		var sb strings.Builder
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got.Store(sb.String())
		w.Header().Set("Grpc-Status", "0")
	})}
	member.Protocols = new(http.Protocols)
	member.Protocols.SetUnencryptedHTTP2(true)
	go member.Serve(ln)
	t.Cleanup(func() { member.Close() })

	_, addr, pool := tlsEdge(t, "\tlimits {\n\t\tbody_timeout 400ms\n\t\tbody_min_rate 1000\n\t}", "\t\tto app=h2c://"+ln.Addr().String())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}}
	send := func(contentType string) (int, string) {
		pr, pw := io.Pipe()
		go func() {
			for i := range 8 { // 8 × 5 bytes over 1.2 s: 33 B/s, far under body_min_rate
				time.Sleep(150 * time.Millisecond)
				if _, err := fmt.Fprintf(pw, "msg%d;", i); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/pkg.Svc/Stream", pr)
		req.Host = "localhost"
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("TE", "trailers")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pw.CloseWithError(io.ErrClosedPipe)
		return resp.StatusCode, resp.Trailer.Get("Grpc-Status") + string(body)
	}
	got.Store("")
	if code, _ := send("application/grpc"); code != http.StatusOK || got.Load() != "msg0;msg1;msg2;msg3;msg4;msg5;msg6;msg7;" {
		t.Errorf("slow gRPC stream: status %d, member read %q; want 200 and every message", code, got.Load())
	}
	got.Store("")
	if code, _ := send("application/octet-stream"); code != http.StatusRequestTimeout && got.Load() == "msg0;msg1;msg2;msg3;msg4;msg5;msg6;msg7;" {
		t.Errorf("the same body as an upload: status %d, member read %q; want it cut by body_min_rate (408)", code, got.Load())
	}
}

// TestGRPCSticky: a gRPC call carrying a jvmRoute session (a cookie in its
// metadata) goes to its member every time, and fails over to the other
// member when that one is killed, as an HTTP/1.1 request does.
func TestGRPCSticky(t *testing.T) {
	a, b := newGRPCMember(t, nil), newGRPCMember(t, nil)
	s, conn := grpcEdge(t, "\t\tto a=h2c://"+a.addr+" b=h2c://"+b.addr+"\n\t\tsticky jvmroute")
	hc := healthpb.NewHealthClient(conn)
	call := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "cookie", "JSESSIONID=5F3A9C.b")
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "app"})
		return err
	}
	for i := range 5 {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if a.calls.Load() != 0 || b.calls.Load() != 5 {
		t.Fatalf("sticky calls: a %d, b %d; want all 5 on b", a.calls.Load(), b.calls.Load())
	}
	b.srv.Stop()
	for i := range 3 {
		if err := call(); err != nil {
			t.Fatalf("call %d after b was killed: %v", i, err)
		}
	}
	if a.calls.Load() != 3 {
		t.Errorf("after b was killed: a got %d calls; want 3 (failed over)", a.calls.Load())
	}
	st := s.Status().Balancers[0]
	if st.Failovers == 0 {
		t.Errorf("failovers %d; want the session's failover counted", st.Failovers)
	}
	if mb := memberStatus(t, s, "b"); mb.Healthy {
		t.Errorf("killed member b still healthy")
	}
}

// TestGRPCThroughSiteHandlers: a site that compresses and sets headers
// still passes gRPC calls whole: encode leaves application/grpc alone,
// Watch still streams, and the failing Check's status still arrives.
func TestGRPCThroughSiteHandlers(t *testing.T) {
	m := newGRPCMember(t, nil)
	_, addr, pool := tlsEdge(t, "\tencode gzip zstd\n\theader Strict-Transport-Security \"max-age=31536000\"\n\theader -Server", "\t\tto app=h2c://"+m.addr)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var hdr metadata.MD
	if resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "app"}, grpc.Header(&hdr)); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check = %v, %v; want SERVING", resp, err)
	}
	if got := hdr.Get("strict-transport-security"); len(got) != 1 {
		t.Errorf("header directive: strict-transport-security %q; want the site's header on the gRPC answer", got)
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check(nope) = %v; want NOT_FOUND", err)
	}
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch first = %v, %v", r, err)
	}
	m.health.SetServingStatus("app", healthpb.HealthCheckResponse_NOT_SERVING)
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch second = %v, %v; want NOT_SERVING through encode", r, err)
	}
}

// TestGRPCClientFaultsSpareMembers: a gRPC client that gives up before
// the answer (its deadline passes, its stream is reset) or sends a body
// that disagrees with its content-length is at fault itself: the h2c
// member is not counted down and keeps serving.
func TestGRPCClientFaultsSpareMembers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	member := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/slow.Svc/Call" {
			select { // answer after the client's deadline
			case <-r.Context().Done():
				return
			case <-time.After(3 * time.Second):
			}
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte{0, 0, 0, 0, 0})
		w.Header().Set("Grpc-Status", "0")
	})}
	member.Protocols = new(http.Protocols)
	member.Protocols.SetUnencryptedHTTP2(true)
	go member.Serve(ln)
	t.Cleanup(func() { member.Close() })
	s, addr, pool := tlsEdge(t, "", "\t\tto app=h2c://"+ln.Addr().String()+"\n\t\tmax_fails 1")

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	err = conn.Invoke(ctx, "/slow.Svc/Call", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("slow call = %v; want the client's DeadlineExceeded", err)
	}
	testpeers.WaitUntil(t, 5*time.Second, "the abandoned call leaves", func() bool { return memberStatus(t, s, "app").InFlight == 0 })
	checkMembersUntouched(t, s, "a call abandoned at its deadline")

	// A body longer than its content-length: the client's malformed request.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/fast.Svc/Call", io.MultiReader(strings.NewReader("\x00\x00\x00\x00\x05hello"), strings.NewReader("and more")))
	req.Host = "localhost"
	req.ContentLength = 10
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	if resp, err := c.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	checkMembersUntouched(t, s, "a body longer than its content-length")

	// And the member still serves.
	if err := conn.Invoke(t.Context(), "/fast.Svc/Call", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}); err != nil {
		t.Errorf("a good call after the faults: %v", err)
	}
}
