package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportApacheMTLS is mod_ssl's import end to end: an httpd.conf with
// two name-based TLS virtual hosts in front of a real Tomcat 10 over AJP
// (mod_jk's JkMount, JkOptions +ForwardSSLCertChain), run by the tether
// binary through import_apache. The host with SSLVerifyClient require and
// SSLCACertificateFile refuses a client without a certificate, and one
// with a certificate from another CA, at the handshake (no request reaches
// Tomcat), and passes one with a certificate from the CA, which Tomcat
// sees as jakarta.servlet.request.X509Certificate; the host with
// SSLProtocol -all +TLSv1.3 refuses openssl s_client -tls1_2 and serves
// -tls1_3. tether import-apache prints the tls blocks.
func TestImportApacheMTLS(t *testing.T) {
	nodes, dir, pki := mtlsSetup(t)
	serverCA, clientCA, server, alice, mallory := pki.serverCA, pki.clientCA, pki.server, pki.alice, pki.mallory

	port := freeLoopbackPort(t)
	workers := fmt.Sprintf("worker.list=lb\nworker.tomcat1.host=127.0.0.1\nworker.tomcat1.port=%s\nworker.lb.type=lb\nworker.lb.balance_workers=tomcat1\nworker.lb.secret=%s\n",
		strings.Split(nodes["tomcat1"].AJP, ":")[1], tomcatSecret)
	httpd := fmt.Sprintf(`ServerRoot %[1]s
Listen %[2]d
LoadModule ssl_module modules/mod_ssl.so
LoadModule jk_module modules/mod_jk.so
JkWorkersFile workers.properties
JkOptions +ForwardSSLCertChain
SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1

<VirtualHost *:%[2]d>
    ServerName mtls.test
    SSLEngine on
    SSLCertificateFile %[3]s
    SSLCertificateKeyFile %[4]s
    SSLVerifyClient require
    SSLVerifyDepth 1
    SSLCACertificateFile %[5]s
    JkMount /lab/* lb
</VirtualHost>

<VirtualHost *:%[2]d>
    ServerName tls13.test
    SSLEngine on
    SSLCertificateFile %[3]s
    SSLCertificateKeyFile %[4]s
    SSLProtocol -all +TLSv1.3
    JkMount /lab/* lb
</VirtualHost>
`, dir, port, server.CertFile, server.KeyFile, clientCA.File)
	conf := filepath.Join(dir, "httpd.conf")
	for f, s := range map[string]string{"workers.properties": workers, "httpd.conf": httpd} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import-apache", conf}, &stdout, &stderr); code != 0 {
		t.Fatalf("tether import-apache exited %d:\n%s", code, stderr.String())
	}
	t.Logf("tether import-apache %s:\n%s\nwarnings:\n%s", conf, stdout.String(), stderr.String())
	for _, want := range []string{"protocols tls1.3", "mode require_and_verify", "trusted_ca_cert_file " + clientCA.File} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("tether import-apache printed no %q", want)
		}
	}
	_, ready := startTether(t, fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n\timport_apache %q\n}\n", conf))
	requests := func() uint64 {
		var n uint64
		for _, b := range status(t, ready.Admin).Balancers {
			for _, m := range b.Members {
				n += m.Requests
			}
		}
		return n
	}

	resolve := []string{"--resolve", fmt.Sprintf("mtls.test:%d:127.0.0.1", port), "--resolve", fmt.Sprintf("tls13.test:%d:127.0.0.1", port), "--cacert", serverCA.File}
	curl := func(args ...string) (string, string, error) {
		cmd := exec.CommandContext(t.Context(), "curl", append(append([]string{"-sS", "--max-time", "20"}, resolve...), args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	certURL := fmt.Sprintf("https://mtls.test:%d/lab/cert.jsp", port)

	// A certificate from the CA: Tomcat sees it over AJP.
	out, errOut, err := curl("--cert", alice.CertFile, "--key", alice.KeyFile, certURL)
	if err != nil {
		t.Fatalf("curl --cert alice %s: %v\n%s", certURL, err, errOut)
	}
	t.Logf("curl --cert alice.crt --key alice.key %s:\n%s", certURL, out)
	for k, want := range map[string]string{"node": "tomcat1", "secure": "true", "certs": "1", "subject.0": "CN=alice,O=Tether Test", "serial.0": "a11ce"} {
		if got := lineValue(out, k); got != want {
			t.Errorf("Tomcat's %s = %q; want %q", k, got, want)
		}
	}

	// Without a certificate, or with another CA's: refused at the handshake.
	before := requests()
	for name, args := range map[string][]string{
		"no certificate":         nil,
		"no certificate, 1.2":    {"--tls-max", "1.2"},
		"another CA's (mallory)": {"--cert", mallory.CertFile, "--key", mallory.KeyFile},
	} {
		out, errOut, err := curl(append(args, "-o", "/dev/null", "-w", "%{http_code}", certURL)...)
		t.Logf("curl (%s) %s: %v: %s", name, certURL, err, strings.TrimSpace(errOut))
		if err == nil {
			t.Errorf("curl (%s) = %s; want the handshake refused (SSLVerifyClient require)", name, out)
		} else if !strings.Contains(errOut, "alert") {
			t.Errorf("curl (%s): %q; want a TLS alert", name, errOut)
		}
	}
	if after := requests(); after != before {
		t.Errorf("Tomcat got %d requests from clients without a trusted certificate", after-before)
	}

	// SSLProtocol -all +TLSv1.3: a TLS 1.2 client is refused.
	sclient := func(flag string) (string, error) {
		cmd := exec.CommandContext(t.Context(), "openssl", "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", port),
			"-servername", "tls13.test", "-CAfile", serverCA.File, flag)
		cmd.Stdin = strings.NewReader("")
		o, err := cmd.CombinedOutput()
		return string(o), err
	}
	o12, err12 := sclient("-tls1_2")
	t.Logf("openssl s_client -servername tls13.test -tls1_2: %v\n%s", err12, firstLines(o12, "alert", "Protocol", "Cipher is"))
	if err12 == nil || !strings.Contains(o12, "alert protocol version") {
		t.Errorf("openssl s_client -tls1_2 to the SSLProtocol -all +TLSv1.3 host: %v\n%s\nwant alert protocol version", err12, o12)
	}
	o13, err13 := sclient("-tls1_3")
	t.Logf("openssl s_client -servername tls13.test -tls1_3: %v\n%s", err13, firstLines(o13, "alert", "Protocol", "Cipher is"))
	if err13 != nil || !strings.Contains(o13, "TLSv1.3") {
		t.Errorf("openssl s_client -tls1_3 to the TLS 1.3 host: %v\n%s", err13, o13)
	}
	// The TLS 1.3 host asks for no certificate.
	out, errOut, err = curl(fmt.Sprintf("https://tls13.test:%d/lab/cert.jsp", port))
	if err != nil || lineValue(out, "node") != "tomcat1" || lineValue(out, "certs") != "0" {
		t.Errorf("curl https://tls13.test/lab/cert.jsp without a certificate: %v %s\n%s; want tomcat1's answer, no certificate", err, errOut, out)
	}
	// And a TLS 1.2 client still reaches mtls.test (all -SSLv3 -TLSv1 -TLSv1.1).
	out, errOut, err = curl("--tls-max", "1.2", "--cert", alice.CertFile, "--key", alice.KeyFile, certURL)
	if err != nil || lineValue(out, "protocol") != "TLSv1.2" {
		t.Errorf("curl --tls-max 1.2 --cert alice: %v %s\n%s; want TLSv1.2 to Tomcat", err, errOut, out)
	}
}
