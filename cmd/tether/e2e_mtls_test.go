package main

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestMTLS is the client certificate acceptance, with curl and openssl
// against the tether binary: a certificate from the trusted CA reaches an
// HTTP member (header_up placeholder and Apache's SSL_* headers), a real
// Tomcat 10 over AJP (request.getAttribute of
// jakarta.servlet.request.X509Certificate, cipher_suite, key_size,
// ssl_session_id) and the same Tomcat over HTTP through its SSLValve,
// which reads client_cert_headers' SSL_* headers; without one, require_and_verify refuses the handshake
// and no member hears of it; a protocols tls1.3 site refuses
// openssl s_client -tls1_2; behind a trusted ALB, its
// X-Amzn-Mtls-Clientcert-Leaf reaches Tomcat the same way, and from an
// untrusted peer it is dropped.
func TestMTLS(t *testing.T) {
	nodes, _, pki := mtlsSetup(t)
	serverCA, clientCA, server, alice, mallory := pki.serverCA, pki.clientCA, pki.server, pki.alice, pki.mallory

	var echoHits atomic.Int64
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echoHits.Add(1)
		var keys []string
		for k := range r.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
	}))
	t.Cleanup(echo.Close)
	echoAddr := strings.TrimPrefix(echo.URL, "http://")

	httpsPort, httpPort := freeLoopbackPort(t), freeLoopbackPort(t)
	caddyfile := fmt.Sprintf(`{
	admin off
}
mtls.test:%[1]d {
	tls %[3]s %[4]s {
		client_auth {
			mode require_and_verify
			trusted_ca_cert_file %[5]s
		}
	}
	reverse_proxy /lab/* {
		to tomcat1=ajp://%[6]s
		ajp_secret %[7]s
	}
	reverse_proxy /echo/* {
		to echo=http://%[8]s
		header_up X-Client-Subject {http.request.tls.client.subject}
		client_cert_headers
	}
	reverse_proxy /tether/* {
		to tomcat1=http://%[9]s
		client_cert_headers
	}
}
tls13.test:%[1]d {
	tls %[3]s %[4]s {
		protocols tls1.3
	}
	reverse_proxy http://%[8]s
}
http://127.0.0.1:%[2]d {
	trusted_proxies 127.0.0.2
	reverse_proxy /lab/* {
		to tomcat1=ajp://%[6]s
		ajp_secret %[7]s
	}
}
`, httpsPort, httpPort, server.CertFile, server.KeyFile, clientCA.File, nodes["tomcat1"].AJP, tomcatSecret, echoAddr, nodes["tomcat1"].HTTP)
	startTether(t, caddyfile)

	resolve := fmt.Sprintf("mtls.test:%d:127.0.0.1", httpsPort)
	curl := func(args ...string) (string, string, error) {
		cmd := exec.CommandContext(t.Context(), "curl", append([]string{"-sS", "--max-time", "20"}, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	mtlsURL := func(path string) string { return fmt.Sprintf("https://mtls.test:%d%s", httpsPort, path) }
	withCert := []string{"--cacert", serverCA.File, "--resolve", resolve, "--cert", alice.CertFile, "--key", alice.KeyFile}

	// The certificate reaches Tomcat over AJP, as a servlet attribute.
	out, errOut, err := curl(append(withCert, mtlsURL("/lab/cert.jsp"))...)
	if err != nil {
		t.Fatalf("curl --cert alice /lab/cert.jsp: %v\n%s", err, errOut)
	}
	t.Logf("curl --cert alice.crt --key alice.key %s:\n%s", mtlsURL("/lab/cert.jsp"), out)
	for k, want := range map[string]string{
		"node": "tomcat1", "secure": "true", "certs": "1",
		"subject.0": "CN=alice,O=Tether Test", "issuer.0": "CN=client-ca,O=Tether Test", "serial.0": "a11ce",
		"protocol": "TLSv1.3",
	} {
		if got := lineValue(out, k); got != want {
			t.Errorf("Tomcat's %s = %q; want %q", k, got, want)
		}
	}
	suite, size := lineValue(out, "cipher_suite"), lineValue(out, "key_size")
	if want := map[string]string{"TLS_AES_128_GCM_SHA256": "128", "TLS_AES_256_GCM_SHA384": "256", "TLS_CHACHA20_POLY1305_SHA256": "256"}[suite]; want == "" || size != want {
		t.Errorf("Tomcat's cipher_suite = %q, key_size = %q; want a TLS 1.3 suite and its key size", suite, size)
	}
	if s := lineValue(out, "ssl_session_id"); len(s) != 64 {
		t.Errorf("Tomcat's ssl_session_id = %q; want 64 hex digits", s)
	}

	// Over HTTP to Tomcat, Apache's headers (client_cert_headers) become the
	// same attributes through Tomcat's own SSLValve (/tether's context.xml).
	out, errOut, err = curl(append(withCert, mtlsURL("/tether/cert.jsp"))...)
	if err != nil {
		t.Fatalf("curl --cert alice /tether/cert.jsp: %v\n%s", err, errOut)
	}
	t.Logf("curl --cert alice.crt --key alice.key %s (Tomcat's HTTP connector, SSLValve):\n%s", mtlsURL("/tether/cert.jsp"), out)
	for k, want := range map[string]string{"certs": "1", "subject.0": "CN=alice,O=Tether Test", "serial.0": "a11ce", "cipher_suite": suite, "key_size": size} {
		if got := lineValue(out, k); got != want {
			t.Errorf("Tomcat's %s through SSLValve = %q; want %q", k, got, want)
		}
	}

	// The certificate reaches an HTTP member, as header_up placeholders and
	// Apache's headers; a client's own SSL_CLIENT_VERIFY does not.
	out, errOut, err = curl(append(withCert, "-H", "SSL_CLIENT_S_DN: CN=root", "-H", "ssl-client-verify: SUCCESS", mtlsURL("/echo/x"))...)
	if err != nil {
		t.Fatalf("curl --cert alice /echo/x: %v\n%s", err, errOut)
	}
	t.Logf("curl --cert alice.crt --key alice.key %s (the member's request headers):\n%s", mtlsURL("/echo/x"), out)
	for k, want := range map[string]string{"X-Client-Subject": "CN=alice,O=Tether Test", "Ssl_client_verify": "SUCCESS", "Ssl_client_s_dn": "CN=alice,O=Tether Test", "Ssl_client_m_serial": "A11CE"} {
		if got := lineValue(out, k+":"); got != want {
			t.Errorf("member header %s = %q; want %q", k, got, want)
		}
	}
	if got := lineValue(out, "Ssl_client_cert:"); !strings.HasPrefix(got, "-----BEGIN CERTIFICATE----- MII") {
		t.Errorf("member header SSL_CLIENT_CERT = %q; want the PEM on one line", got)
	}
	if strings.Contains(out, "Ssl-Client-Verify") || strings.Contains(out, "CN=root") {
		t.Errorf("the client's forged headers reached the member:\n%s", out)
	}

	// Without a certificate, or with one from another CA: no handshake.
	before := echoHits.Load()
	for name, args := range map[string][]string{
		"no certificate":     {"--cacert", serverCA.File, "--resolve", resolve},
		"untrusted CA":       {"--cacert", serverCA.File, "--resolve", resolve, "--cert", mallory.CertFile, "--key", mallory.KeyFile},
		"no cert on TLS 1.2": {"--cacert", serverCA.File, "--resolve", resolve, "--tls-max", "1.2"},
	} {
		out, errOut, err := curl(append(args, "-o", "/dev/null", "-w", "%{http_code}", mtlsURL("/echo/x"))...)
		if err == nil {
			t.Errorf("curl (%s) = %s; want the handshake refused", name, out)
			continue
		}
		t.Logf("curl (%s) %s: %v: %s", name, mtlsURL("/echo/x"), err, strings.TrimSpace(errOut))
		if !strings.Contains(errOut, "alert") {
			t.Errorf("curl (%s): %q; want a TLS alert", name, errOut)
		}
	}
	if n := echoHits.Load() - before; n != 0 {
		t.Errorf("the member got %d requests without a trusted certificate", n)
	}

	// protocols tls1.3: a TLS 1.2 client is refused.
	sclient := func(flag string) (string, error) {
		cmd := exec.CommandContext(t.Context(), "openssl", "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", httpsPort),
			"-servername", "tls13.test", "-CAfile", serverCA.File, flag)
		cmd.Stdin = strings.NewReader("")
		o, err := cmd.CombinedOutput()
		return string(o), err
	}
	o12, err12 := sclient("-tls1_2")
	t.Logf("openssl s_client -servername tls13.test -tls1_2: %v\n%s", err12, firstLines(o12, "alert", "Protocol", "Cipher is"))
	if err12 == nil || !strings.Contains(o12, "alert protocol version") {
		t.Errorf("openssl s_client -tls1_2 to a tls1.3 site: %v\n%s\nwant alert protocol version", err12, o12)
	}
	o13, err13 := sclient("-tls1_3")
	t.Logf("openssl s_client -servername tls13.test -tls1_3: %v\n%s", err13, firstLines(o13, "alert", "Protocol", "Cipher is"))
	if err13 != nil || !strings.Contains(o13, "TLSv1.3") {
		t.Errorf("openssl s_client -tls1_3 to a tls1.3 site: %v\n%s", err13, o13)
	}

	// Behind an ALB in verify mode: its header, from the trusted proxy,
	// reaches Tomcat as the certificate; from anyone else it is dropped.
	leafHeader := "X-Amzn-Mtls-Clientcert-Leaf: " + albEncode(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: alice.Cert.Raw}))
	albURL := fmt.Sprintf("http://127.0.0.1:%d/lab/cert.jsp", httpPort)
	for _, tc := range []struct {
		from, certs, subject string
	}{
		{from: "127.0.0.2", certs: "1", subject: "CN=alice,O=Tether Test"},
		{from: "127.0.0.1", certs: "0"},
	} {
		out, errOut, err := curl("--interface", tc.from, "-H", leafHeader, "-H", "X-Forwarded-Proto: https", albURL)
		if err != nil {
			t.Fatalf("curl from %s: %v\n%s", tc.from, err, errOut)
		}
		t.Logf("curl --interface %s -H 'X-Amzn-Mtls-Clientcert-Leaf: …' %s:\n%s", tc.from, albURL, out)
		if got := lineValue(out, "certs"); got != tc.certs {
			t.Errorf("from %s: Tomcat's certs = %q; want %s", tc.from, got, tc.certs)
		}
		if got := lineValue(out, "subject.0"); got != tc.subject {
			t.Errorf("from %s: Tomcat's subject = %q; want %q", tc.from, got, tc.subject)
		}
	}
}

// lineValue is the value of the line "key=value" (or "key: value" when
// key ends in ':') of out; "" when there is none.
func lineValue(out, key string) string {
	sep := "="
	if strings.HasSuffix(key, ":") {
		sep, key = " ", strings.TrimSuffix(key, ":")+":"
	}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), key+sep); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// firstLines returns the lines of out that contain one of subs.
func firstLines(out string, subs ...string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		for _, s := range subs {
			if strings.Contains(line, s) {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}

// albEncode URL-encodes PEM as an ALB does, leaving "+=/" as they are.
func albEncode(pemBytes []byte) string {
	s := url.QueryEscape(string(pemBytes))
	return strings.NewReplacer("%2B", "+", "%3D", "=", "%2F", "/", "+", "%20").Replace(s)
}

// mtlsPKI are the certificates of the client-certificate tests: a server
// certificate for mtls.test and tls13.test from serverCA, alice's from
// the trusted clientCA, and mallory's from a CA nobody trusts.
type mtlsPKI struct {
	serverCA, clientCA     *testpeers.CA
	server, alice, mallory *testpeers.Leaf
}

// mtlsSetup starts (or finds) the Tomcat test nodes, checks that curl and
// openssl are here, and writes the certificates into a fresh directory,
// which it returns for the test's own files.
func mtlsSetup(t *testing.T) (map[string]testpeers.TomcatNode, string, mtlsPKI) {
	t.Helper()
	nodes := needTomcat(t)
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (scripts/deps.sh installs it): %v", tool, err)
		}
	}
	dir := t.TempDir()
	var p mtlsPKI
	p.serverCA = testpeers.NewCA(t, dir, "server-ca")
	p.clientCA = testpeers.NewCA(t, dir, "client-ca")
	p.server = p.serverCA.Issue(t, dir, "server", 2, "mtls.test", "tls13.test")
	p.alice = p.clientCA.Issue(t, dir, "alice", 0xa11ce)
	p.mallory = testpeers.NewCA(t, dir, "other-ca").Issue(t, dir, "mallory", 0x666)
	return nodes, dir, p
}
