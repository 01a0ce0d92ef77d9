package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// healthMember is a grpc-go server with the standard health service
// (service "app" SERVING), in cleartext (h2c) or with TLS.
type healthMember struct {
	addr   string
	health *health.Server
	srv    *grpc.Server
	calls  atomic.Int64
}

func startHealthMember(t *testing.T, creds credentials.TransportCredentials) *healthMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &healthMember{addr: ln.Addr().String(), health: health.NewServer()}
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			m.calls.Add(1)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			m.calls.Add(1)
			return h(srv, ss)
		}),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	m.srv = grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(m.srv, m.health)
	m.health.SetServingStatus("app", healthpb.HealthCheckResponse_SERVING)
	go m.srv.Serve(ln)
	t.Cleanup(m.srv.Stop)
	return m
}

// grpcClient connects to a TLS edge at addr whose certificate (for
// localhost) is certDER.
func grpcClient(t *testing.T, addr string, certDER []byte) healthpb.HealthClient {
	t.Helper()
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// checkHealthService makes the acceptance calls through a proxy: unary
// Check, a failing Check whose grpc-status (NOT_FOUND) comes from the
// member's trailers, and a streaming Watch that receives a status the
// member pushes after the stream began. It returns a line for the log.
func checkHealthService(t *testing.T, who string, hc healthpb.HealthClient, m *healthMember) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	m.health.SetServingStatus("app", healthpb.HealthCheckResponse_SERVING)
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "app"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("%s: Check(app) = %v, %v; want SERVING", who, resp, err)
	}
	_, nfErr := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	if st := grpcstatus.Convert(nfErr); st.Code() != codes.NotFound {
		t.Errorf("%s: Check(nope) = %v; want NOT_FOUND", who, nfErr)
	}
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "app"})
	if err != nil {
		t.Fatalf("%s: Watch: %v", who, err)
	}
	first, err := watch.Recv()
	if err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("%s: Watch first = %v, %v; want SERVING", who, first, err)
	}
	m.health.SetServingStatus("app", healthpb.HealthCheckResponse_NOT_SERVING)
	second, err := watch.Recv()
	if err != nil || second.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("%s: Watch second = %v, %v; want NOT_SERVING pushed by the member", who, second, err)
	}
	return fmt.Sprintf("%s: Check(app)=%s Check(nope)=%s Watch=%s,%s", who, resp.GetStatus(), grpcstatus.Code(nfErr), first.GetStatus(), second.GetStatus())
}

// grpcSite is one https site of the test's Caddyfile: a self-signed
// certificate for localhost and one reverse_proxy.
const grpcSite = `https://localhost:%d {
	tls %s %s
	reverse_proxy %s
}
`

// TestGRPCEndToEnd runs the built tether binary in front of grpc-go
// health servers: an h2c:// member, a TLS member whose certificate tether
// verifies, and an HTTP/1.1-only member; Caddy (the Debian package) runs
// the same site blocks beside it. Through both, unary Check, NOT_FOUND from
// the member and a streaming Watch pass to the h2c and the TLS member.
// Through tether, a call to the HTTP/1.1 member gets UNIMPLEMENTED naming
// it, and that member stays up with nothing counted; with two h2c members,
// killing one sends every call to the other and counts the killed one down.
func TestGRPCEndToEnd(t *testing.T) {
	needBinaries(t)
	dir := t.TempDir()
	certFile, keyFile, der := testpeers.WriteSelfSigned(t, dir, "localhost")

	// Members.
	mdir := t.TempDir()
	mCert, mKey, _ := testpeers.WriteSelfSigned(t, mdir, "member.test")
	kp, err := tls.LoadX509KeyPair(mCert, mKey)
	if err != nil {
		t.Fatal(err)
	}
	h2cMember := startHealthMember(t, nil)
	tlsMember := startHealthMember(t, credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{kp}}))
	a, b := startHealthMember(t, nil), startHealthMember(t, nil)
	var h1Hits atomic.Int64
	h1Member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h1Hits.Add(1)
		w.Write([]byte("an HTTP/1.1 app\n"))
	}))
	t.Cleanup(h1Member.Close)
	h1Addr := strings.TrimPrefix(h1Member.URL, "http://")

	blocks := []struct {
		name, upstream string
	}{
		{"h2c", "h2c://" + h2cMember.addr},
		{"tls", "https://" + tlsMember.addr + " {\n\t\ttransport http {\n\t\t\ttls_trusted_ca_certs " + mCert + "\n\t\t\ttls_server_name member.test\n\t\t}\n\t}"},
		{"http1", "app=http://" + h1Addr + " {\n\t\tmax_fails 1\n\t}"},
		{"failover", "a=h2c://" + a.addr + " b=h2c://" + b.addr + " {\n\t\tlb_policy round_robin\n\t}"},
	}
	ports := map[string]int{}
	var tetherFile strings.Builder
	tetherFile.WriteString("{\n\tadmin 127.0.0.1:0\n}\n")
	for _, blk := range blocks {
		ports[blk.name] = freeLoopbackPort(t)
		fmt.Fprintf(&tetherFile, grpcSite, ports[blk.name], certFile, keyFile, blk.upstream)
	}
	tp, ready := startTether(t, tetherFile.String())
	_ = tp
	tether := func(name string) healthpb.HealthClient {
		return grpcClient(t, fmt.Sprintf("127.0.0.1:%d", ports[name]), der)
	}

	t.Logf("%s", checkHealthService(t, "tether → h2c:// member", tether("h2c"), h2cMember))
	t.Logf("%s", checkHealthService(t, "tether → TLS member", tether("tls"), tlsMember))

	// Caddy, the same site blocks (Caddy's syntax) for the h2c and TLS
	// members, on its own ports.
	if _, err := os.Stat("/usr/bin/caddy"); err == nil || os.Getenv("CI") != "" {
		cports := map[string]int{"h2c": freeLoopbackPort(t), "tls": freeLoopbackPort(t), "http1": freeLoopbackPort(t)}
		var caddyFile strings.Builder
		caddyFile.WriteString("{\n\tadmin off\n\tstorage file_system " + filepath.Join(dir, "caddy") + "\n}\n")
		for _, blk := range blocks[:3] {
			up := strings.Replace(blk.upstream, "app=", "", 1)
			up = strings.Replace(up, "\t\tmax_fails 1\n", "", 1)
			fmt.Fprintf(&caddyFile, grpcSite, cports[blk.name], certFile, keyFile, up)
		}
		startCaddy(t, caddyFile.String(), cports["tls"])
		caddy := func(name string) healthpb.HealthClient {
			return grpcClient(t, fmt.Sprintf("127.0.0.1:%d", cports[name]), der)
		}
		t.Logf("%s", checkHealthService(t, "caddy → h2c:// member", caddy("h2c"), h2cMember))
		t.Logf("%s", checkHealthService(t, "caddy → TLS member", caddy("tls"), tlsMember))
		_, err := caddy("http1").Check(t.Context(), &healthpb.HealthCheckRequest{Service: "app"})
		t.Logf("caddy → HTTP/1.1 member: %v", err)
	}

	// The HTTP/1.1-only member: a clear error, the member untouched.
	before := h1Hits.Load()
	for range 3 {
		_, err := tether("http1").Check(t.Context(), &healthpb.HealthCheckRequest{Service: "app"})
		st := grpcstatus.Convert(err)
		if st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "is reached over HTTP/1.1; gRPC needs HTTP/2 members") {
			t.Fatalf("tether → HTTP/1.1 member: %v; want UNIMPLEMENTED saying the member speaks HTTP/1.1", err)
		}
		t.Logf("tether → HTTP/1.1 member: %v", err)
	}
	if h1Hits.Load() != before {
		t.Errorf("the HTTP/1.1 member got %d requests; want none", h1Hits.Load()-before)
	}
	if m := memberOf(t, ready.Admin, "localhost-3", "app"); !m.Healthy || m.Errors != 0 || m.Requests != 0 {
		t.Errorf("HTTP/1.1 member after the gRPC calls: %+v; want healthy, no requests, no errors", m)
	}
	// And it still serves HTTP/1.1 through tether.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}}} //nolint:gosec // the test's own self-signed edge
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/", ports["http1"]), nil)
	req.Host = "localhost"
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET to the HTTP/1.1 member after the gRPC calls: %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	// Failover: two h2c members, one killed.
	fo := tether("failover")
	call := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := fo.Check(ctx, &healthpb.HealthCheckRequest{Service: "app"})
		return err
	}
	for i := range 4 {
		if err := call(); err != nil {
			t.Fatalf("failover call %d: %v", i, err)
		}
	}
	a.srv.Stop()
	lost := 0
	for i := range 10 {
		if err := call(); err != nil {
			// A call Tether had already sent on a's connection when a
			// died is not sent again (a gRPC call need not be idempotent):
			// only the first call can meet that race, and it gets
			// Unavailable; every later one must fail over.
			if i > 0 || grpcstatus.Code(err) != codes.Unavailable {
				t.Fatalf("call %d after member a was killed: %v", i, err)
			}
			lost++
			t.Logf("call 0 after member a was killed was already on a's connection: %v", err)
		}
	}
	ma, mb := memberOf(t, ready.Admin, "localhost-4", "a"), memberOf(t, ready.Admin, "localhost-4", "b")
	t.Logf("after killing a: a calls %d healthy %v errors %d reason %q; b calls %d healthy %v", a.calls.Load(), ma.Healthy, ma.Errors, ma.Reason, b.calls.Load(), mb.Healthy)
	if a.calls.Load() != 2 || b.calls.Load() != int64(12-lost) || ma.Healthy || ma.Errors == 0 || !mb.Healthy || mb.Errors != 0 {
		t.Errorf("failover: a %d calls (healthy %v, errors %d), b %d calls (healthy %v, errors %d); want 2 and %d, a down and counted, b healthy",
			a.calls.Load(), ma.Healthy, ma.Errors, b.calls.Load(), mb.Healthy, mb.Errors, 12-lost)
	}
}

// adminMember is what the tests read of a member in /api/status.
type adminMember struct {
	Name     string `json:"name"`
	Healthy  bool   `json:"healthy"`
	Reason   string `json:"reason"`
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
}

// memberOf reads one member of one balancer from the admin API.
func memberOf(t *testing.T, admin, balancer, name string) adminMember {
	t.Helper()
	resp, err := client.Get("http://" + admin + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Balancers []struct {
			Name    string        `json:"name"`
			Members []adminMember `json:"members"`
		} `json:"balancers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	for _, b := range st.Balancers {
		for _, m := range b.Members {
			if b.Name == balancer && m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no member %s in balancer %s: %+v", name, balancer, st.Balancers)
	return adminMember{}
}
