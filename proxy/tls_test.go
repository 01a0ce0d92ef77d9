package proxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

func freePort(t *testing.T) int {
	t.Helper()
	p, err := testpeers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// httpsClient trusts root and speaks h2 when the server offers it.
func httpsClient(root []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestTLSInternal serves https://localhost with the internal CA: the chain
// verifies against the stored root, h2 is negotiated, the member learns
// X-Forwarded-Proto https, plain HTTP redirects, and a name no site serves
// gets no certificate.
func TestTLSInternal(t *testing.T) {
	var xfp, xff atomic.Value
	echo := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		xfp.Store(r.Header.Get("X-Forwarded-Proto"))
		xff.Store(r.Header.Get("X-Forwarded-For"))
		fmt.Fprintf(w, "proto %s\n", r.Proto)
	})
	httpPort, httpsPort := freePort(t), freePort(t)
	dir := t.TempDir()
	src := fmt.Sprintf(`{
	admin off
	http_port %d
	https_port %d
	storage file %s
}
localhost {
	reverse_proxy {
		to echo=http://%s
	}
}
`, httpPort, httpsPort, dir, echo.hostport())
	srv, _ := startProxy(t, src, nil)
	root, rootPath, err := srv.InternalRoot(t.Context())
	if err != nil || rootPath != filepath.Join(dir, "tether", "ca", "root.crt") {
		t.Fatalf("InternalRoot() = %q, %v", rootPath, err)
	}
	if onDisk, _ := os.ReadFile(rootPath); !bytes.Equal(onDisk, root) {
		t.Fatal("the root in storage differs from InternalRoot")
	}
	base := fmt.Sprintf("https://localhost:%d", httpsPort)
	c := httpsClient(root)
	req, _ := http.NewRequest(http.MethodGet, base+"/x", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6") // an untrusted client's claim
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" {
		t.Errorf("GET %s = %d %s; want 200 over HTTP/2.0", base, resp.StatusCode, resp.Proto)
	}
	if v, _ := xfp.Load().(string); v != "https" {
		t.Errorf("X-Forwarded-Proto at the member = %q; want https (Tether terminated TLS)", v)
	}
	if v, _ := xff.Load().(string); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For at the member = %q; want the untrusted claim replaced by 127.0.0.1", v)
	}
	// The HTTP/2 GET took the forwarder (forward.go), as HTTP/1.1 GETs
	// do; a POST with a body goes through httputil.ReverseProxy.
	b := srv.balancerList()[0]
	if n := b.forwarded.Load(); n != 1 {
		t.Errorf("forwarded requests after one HTTP/2 GET: %d; want 1", n)
	}
	if resp, err := c.Post(base+"/x", "text/plain", strings.NewReader("body")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST over HTTP/2: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if n := b.forwarded.Load(); n != 1 {
		t.Errorf("forwarded requests after a POST with a body: %d; want still 1", n)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("leaf key = %T; want ECDSA P-256", leaf.PublicKey)
	}
	if resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x", resp.TLS.Version)
	}

	// Plain HTTP on http_port redirects to https.
	r2, err := c.Get(fmt.Sprintf("http://localhost:%d/a/b?c=1", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if want := base + "/a/b?c=1"; r2.StatusCode != http.StatusPermanentRedirect || r2.Header.Get("Location") != want {
		t.Errorf("http GET = %d Location %q; want 308 %q", r2.StatusCode, r2.Header.Get("Location"), want)
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort))
	// A name no site serves: no certificate.
	if conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "not-configured.example", InsecureSkipVerify: true}); err == nil {
		conn.Close()
		t.Error("handshake for an unconfigured name succeeded; want no certificate")
	}
	// Old protocol versions and weak suites are refused.
	if conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		conn.Close()
		t.Error("TLS 1.1 handshake succeeded; want refused")
	}
	if conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}); err == nil {
		conn.Close()
		t.Error("handshake with CBC/RSA-kex suites succeeded; want refused")
	}

	t.Run("curl and h2load", func(t *testing.T) {
		if testing.Short() {
			t.Skip("runs curl and h2load; skipped under -short")
		}
		out, err := exec.CommandContext(t.Context(), "curl", "-sS", "--http2", "--cacert", rootPath,
			"-o", "/dev/null", "-w", "%{http_version}", base+"/").CombinedOutput()
		if err != nil || string(out) != "2" {
			t.Errorf("curl --http2 = %q, %v; want http_version 2", out, err)
		}
		out, err = exec.CommandContext(t.Context(), "h2load", "-n", "400", "-c", "4", "-m", "8", base+"/").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "400 succeeded, 0 failed") || !strings.Contains(string(out), "Application protocol: h2") {
			t.Errorf("h2load: %v\n%s", err, out)
		}
	})
}

// TestTLSFilesAndOnDemand: tls CERT KEY serves the operator's certificate;
// on-demand internal issuance asks the ask URL and issues only what it
// allows.
func TestTLSFilesAndOnDemand(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, der := testpeers.WriteSelfSigned(t, dir, "files.test")
	var asked atomic.Int32
	ask := newBackend(t, "ask", func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.URL.Query().Get("domain") != "allowed.test" {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	filesPort, odPort := freePort(t), freePort(t)
	src := fmt.Sprintf(`{
	admin off
	storage file %s
}
https://files.test:%d {
	tls %s %s
	file_server {
		root %s
	}
}
https://:%d {
	tls internal {
		on_demand
		ask %s/check
	}
	file_server {
		root %s
	}
}
`, filepath.Join(dir, "data"), filesPort, certFile, keyFile, dir, odPort, ask.URL, dir)
	startProxy(t, src, nil)

	conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(filesPort), &tls.Config{ServerName: "files.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake with the files site: %v", err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, der) {
		t.Error("files site served another certificate than cert.pem")
	}
	conn.Close()

	odAddr := "127.0.0.1:" + strconv.Itoa(odPort)
	conn, err = tls.Dial("tcp", odAddr, &tls.Config{ServerName: "allowed.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("on-demand handshake for an allowed name: %v", err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != "allowed.test" {
		t.Errorf("on-demand certificate names = %q; want [allowed.test]", got)
	}
	conn.Close()
	before := asked.Load()
	if conn, err := tls.Dial("tcp", odAddr, &tls.Config{ServerName: "denied.test", InsecureSkipVerify: true}); err == nil {
		conn.Close()
		t.Error("on-demand handshake for a denied name succeeded")
	}
	if asked.Load() != before+1 {
		t.Errorf("ask calls for the denied name = %d; want 1", asked.Load()-before)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "certificates", "tether-internal", "denied.test")); err == nil {
		t.Error("a certificate was stored for the denied name")
	}
}
