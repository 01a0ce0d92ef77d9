package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// moto is the moto_server of this package's integration tests; nil under
// -short.
var moto *testpeers.Moto

// TestMain starts moto_server for the shared-storage tests; CI must run them,
// so a missing moto_server fails the run rather than skipping.
func TestMain(m *testing.M) { testpeers.MotoMain(m, &moto, false) }

// startPebble runs Pebble for one test; it fails (never skips) outside
// -short when Pebble cannot start.
func startPebble(t *testing.T, o testpeers.PebbleOptions) *testpeers.Pebble {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test (Pebble); skipped under -short")
	}
	p, err := testpeers.StartPebble(t.TempDir(), o)
	if err != nil {
		t.Fatalf("pebble: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.Out.String())
		}
	})
	return p
}

// acmeGlobal is the global block for a Tether using Pebble.
func acmeGlobal(p *testpeers.Pebble, httpPort, httpsPort int, storage string) string {
	return fmt.Sprintf(`{
	admin off
	http_port %d
	https_port %d
	email ops@example.test
	acme_ca %s
	acme_ca_root %s
	%s
}
`, httpPort, httpsPort, p.DirURL, p.ListenerCA, storage)
}

// waitCert waits until 127.0.0.1:port serves name a certificate that
// verifies against Pebble's root, and returns the leaf.
func waitCert(t *testing.T, p *testpeers.Pebble, port int, name string) *x509.Certificate {
	t.Helper()
	root, err := p.Root()
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{ServerName: name, RootCAs: pool})
		if err == nil {
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			return leaf
		}
		if time.Now().After(deadline) {
			t.Fatalf("no valid certificate for %s on port %d: %v", name, port, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// curlPebble fetches https://name:port/ with curl, trusting only Pebble's
// root, and returns the body.
func curlPebble(t *testing.T, p *testpeers.Pebble, port int, name string) string {
	t.Helper()
	root, _ := p.Root()
	rootFile := filepath.Join(t.TempDir(), "pebble-root.pem")
	os.WriteFile(rootFile, root, 0o600)
	out, err := exec.CommandContext(t.Context(), "curl", "-sS", "--cacert", rootFile,
		"--resolve", fmt.Sprintf("%s:%d:127.0.0.1", name, port), fmt.Sprintf("https://%s:%d/", name, port)).CombinedOutput()
	if err != nil {
		t.Fatalf("curl --cacert <pebble root> https://%s:%d/: %v\n%s", name, port, err, out)
	}
	return string(out)
}

func writeIndex(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello over acme\n"), 0o644)
	return dir
}

// TestACMEIssuance obtains real certificates from Pebble through HTTP-01
// and through TLS-ALPN-01 (one challenge type allowed at a time); Pebble
// validates on 127.0.0.1 at Tether's http_port and https_port.
func TestACMEIssuance(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			p := startPebble(t, testpeers.PebbleOptions{})
			name := strings.ReplaceAll(challenge, "-", "") + ".test"
			src := acmeGlobal(p, p.HTTPPort, p.TLSPort, "storage file "+t.TempDir()) + fmt.Sprintf(`
%s {
	tls {
		challenges %s
	}
	file_server {
		root %s
	}
}
`, name, challenge, writeIndex(t))
			start := time.Now()
			var logs testpeers.Buffer
			startProxy(t, src, &logs)
			leaf := waitCert(t, p, p.TLSPort, name)
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name {
				t.Errorf("certificate names = %q; want [%s]", leaf.DNSNames, name)
			}
			if body := curlPebble(t, p, p.TLSPort, name); body != "hello over acme\n" {
				t.Errorf("curl body = %q", body)
			}
			if n := p.Issued(); n != 1 {
				t.Errorf("pebble issued %d certificates; want 1", n)
			}
			if want := `"challenge":"` + challenge + `"`; !strings.Contains(logs.String(), want) {
				t.Errorf("Tether's log does not show it answering a %s challenge:\n%s", challenge, logs.String())
			}
			t.Logf("%s: issued by %q in %v", challenge, leaf.Issuer.CommonName, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestACMEOnDemandAsk: with on-demand TLS, a name the ask URL denies gets
// no certificate and costs no ACME order; an allowed one is issued during
// its first handshake.
func TestACMEOnDemandAsk(t *testing.T) {
	p := startPebble(t, testpeers.PebbleOptions{})
	ask := newBackend(t, "ask", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("domain") != "yes.test" {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	src := acmeGlobal(p, p.HTTPPort, p.TLSPort, "storage file "+t.TempDir()) + fmt.Sprintf(`
https:// {
	tls {
		on_demand
		ask %s
	}
	file_server {
		root %s
	}
}
`, ask.URL, writeIndex(t))
	startProxy(t, src, nil)
	addr := "127.0.0.1:" + strconv.Itoa(p.TLSPort)
	for range 3 {
		if c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "no.test", InsecureSkipVerify: true}); err == nil {
			c.Close()
			t.Fatal("handshake for a denied name succeeded")
		}
	}
	if orders := strings.Count(p.Out.String(), "new order"); orders != 0 || p.Issued() != 0 {
		t.Fatalf("denied names cost %d orders, %d certificates; want none", orders, p.Issued())
	}
	leaf := waitCert(t, p, p.TLSPort, "yes.test")
	if leaf.DNSNames[0] != "yes.test" || p.Issued() != 1 {
		t.Fatalf("allowed name: cert for %q, pebble issued %d; want yes.test, 1", leaf.DNSNames, p.Issued())
	}
}

// TestACMESharedS3 runs two Tether instances sharing storage s3 on
// moto_server: A in this process, B as a separate `tether run` process (so
// certmagic's in-memory challenge state is not shared), once for each
// challenge type with only that type allowed. Pebble validates at B's ports
// only (HTTP-01 at B's http_port, TLS-ALPN-01 at B's https_port). Both serve
// shared.test: Pebble issues its certificate once and both serve it. Only A
// serves cross.test, so A begins its challenge and B must answer it (the
// HTTP-01 token, or the acme-tls/1 handshake with the challenge
// certificate), reading the challenge from the shared storage; if B does
// not, cross.test gets no certificate.
func TestACMESharedS3(t *testing.T) {
	if moto == nil {
		t.Skip("integration test (moto_server); skipped under -short")
	}
	bin := filepath.Join(t.TempDir(), "tether")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../cmd/tether").CombinedOutput(); err != nil {
		t.Fatalf("build tether: %v\n%s", err, out)
	}
	moto.AWSEnv(t.Setenv)
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) { testACMESharedS3(t, bin, challenge) })
	}
}

func testACMESharedS3(t *testing.T, bin, challenge string) {
	bucket := fmt.Sprintf("tether-acme-%d-%s", os.Getpid(), strings.ReplaceAll(challenge, "-", ""))
	if err := moto.CreateBucket(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	// Pebble validates at its HTTPPort and TLSPort: B's http_port and
	// https_port. A's ports are its own, and Pebble never dials them.
	p := startPebble(t, testpeers.PebbleOptions{})
	portA, portsA := freePort(t), freePort(t)
	storage := fmt.Sprintf("storage s3 {\n\t\tbucket %s\n\t\tprefix fleet/\n\t\tregion us-east-1\n\t\tendpoint %s\n\t}", bucket, moto.URL)
	root := writeIndex(t)
	site := func(name string) string {
		return fmt.Sprintf("%s {\n\ttls {\n\t\tchallenges %s\n\t}\n\tfile_server {\n\t\troot %s\n\t}\n}\n", name, challenge, root)
	}
	srcA := acmeGlobal(p, portA, portsA, storage) + site("shared.test") + site("cross.test")
	srcB := acmeGlobal(p, p.HTTPPort, p.TLSPort, storage) + site("shared.test")

	cfgB := filepath.Join(t.TempDir(), "Caddyfile")
	os.WriteFile(cfgB, []byte(srcB), 0o600)
	var logB, logA testpeers.Buffer
	b := exec.CommandContext(t.Context(), bin, "run", "-c", cfgB)
	b.Stderr = &logB
	b.Cancel = func() error { return b.Process.Signal(os.Interrupt) }
	b.WaitDelay = 5 * time.Second
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Process.Signal(os.Interrupt) // by PID
		b.Wait()
		if t.Failed() {
			t.Logf("B's log:\n%s", logB.String())
			t.Logf("A's log:\n%s", logA.String())
		}
	})
	startProxy(t, srcA, &logA)

	leafA := waitCert(t, p, portsA, "shared.test")
	leafB := waitCert(t, p, p.TLSPort, "shared.test")
	if leafA.SerialNumber.Cmp(leafB.SerialNumber) != 0 {
		t.Errorf("A and B serve different certificates for shared.test (serials %x, %x)", leafA.SerialNumber, leafB.SerialNumber)
	}
	leafCross := waitCert(t, p, portsA, "cross.test")
	if n := p.Issued(); n != 2 {
		t.Errorf("pebble issued %d certificates; want 2 (shared.test once, cross.test once)", n)
	}
	// certmagic logs each answer; HTTP-01 names the identifier, TLS-ALPN-01
	// the server_name. distributed:true means it came from storage.
	var answered bool
	for _, line := range strings.Split(logB.String(), "\n") {
		if strings.Contains(line, "served key authentication") && strings.Contains(line, `"cross.test"`) &&
			strings.Contains(line, `"challenge":"`+challenge+`"`) && strings.Contains(line, `"distributed":true`) {
			answered = true
		}
	}
	if !answered {
		t.Errorf("B's log does not show it answering A's %s challenge for cross.test from storage", challenge)
	}
	if strings.Contains(logA.String(), "served key authentication") {
		t.Errorf("A answered a validation itself; Pebble should only dial B")
	}
	crts := storedCerts(t, bucket)
	if len(crts) != 2 {
		t.Errorf("certificates in the bucket = %q; want one for each name", crts)
	}
	t.Logf("%s: pebble issued %d certificates; shared.test serial %x served by both; cross.test serial %x: A's order, B answered from storage; bucket: %q",
		challenge, p.Issued(), leafA.SerialNumber, leafCross.SerialNumber, crts)
}

// storedCerts lists the .crt objects under the fleet prefix.
func storedCerts(t *testing.T, bucket string) []string {
	t.Helper()
	out, err := moto.S3().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	var crts []string
	for _, o := range out.Contents {
		if k := *o.Key; strings.HasPrefix(k, "fleet/certificates/") && strings.HasSuffix(k, ".crt") {
			crts = append(crts, k)
		}
	}
	return crts
}
