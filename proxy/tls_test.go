package proxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
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

	"github.com/tether-proxy/tether/config"
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

// writeSelfSigned writes a certificate for names and its key as PEM files.
func writeSelfSigned(t testing.TB, dir string, names ...string) (certFile, keyFile string, der []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, der
}

// TestTLSFilesAndOnDemand: tls CERT KEY serves the operator's certificate;
// on-demand internal issuance asks the ask URL and issues only what it
// allows.
func TestTLSFilesAndOnDemand(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, der := writeSelfSigned(t, dir, "files.test")
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

func TestOnDemandLimiter(t *testing.T) {
	l := newOnDemandLimiter(2, time.Second)
	t0 := time.Unix(1000, 0)
	for i, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {0, true}, {0, false}, {500 * time.Millisecond, false}, {time.Second, true}, {time.Second, false}, {10 * time.Second, true}, {10 * time.Second, true}, {10 * time.Second, false}} {
		if got := l.allow(t0.Add(tc.at)); got != tc.want {
			t.Errorf("step %d: allow(t0+%v) = %v; want %v", i, tc.at, got, tc.want)
		}
	}
}

// filesListener is a listener with one tls CERT KEY site for name, as in
// bench/run.sh.
func filesListener(tb testing.TB, name string) *listenerTLS {
	tb.Helper()
	certFile, keyFile, _ := writeSelfSigned(tb, tb.TempDir(), name)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		tb.Fatal(err)
	}
	lt := &listenerTLS{m: newTLSManager(&config.Global{}, Options{})}
	lt.add(name, &tlsPolicy{kind: tlsFiles, cert: &cert})
	return lt
}

// TestTLSGetCertificateAllocs: choosing the certificate of a files site
// costs every full handshake and allocates nothing.
func TestTLSGetCertificateAllocs(t *testing.T) {
	lt := filesListener(t, "localhost")
	hello := &tls.ClientHelloInfo{ServerName: "localhost", SupportedProtos: []string{"h2", "http/1.1"}}
	if n := testing.AllocsPerRun(100, func() { lt.getCertificate(hello) }); n != 0 {
		t.Errorf("getCertificate(%q) allocates %v times; want 0", hello.ServerName, n)
	}
}

// BenchmarkTLSFullHandshake is one full TLS 1.3 handshake (X25519, ECDSA
// P-256 leaf, no resumption) with the listener's config, server and client
// together over loopback, as in bench/run.sh's handshake scenario.
func BenchmarkTLSFullHandshake(b *testing.B) {
	lt := filesListener(b, "localhost")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", lt.tlsConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	client := &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519}, NextProtos: []string{"http/1.1"}}
	b.ReportAllocs()
	for b.Loop() {
		c, err := tls.Dial("tcp", ln.Addr().String(), client)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
