package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestACMEClientAuth: the handshake settings apply to ACME certificates
// too, issued up front (TLS-ALPN-01 on the site's own port) and on demand:
// the certificate is issued, then only a client with a trusted
// certificate, over TLS 1.3, gets in. (That validations get the base
// config is TestConfigForClient's: Pebble validates over TLS 1.3, where a
// missing client certificate fails only after the validator's handshake.)
func TestACMEClientAuth(t *testing.T) {
	for _, onDemand := range []bool{false, true} {
		t.Run(map[bool]string{false: "managed", true: "on_demand"}[onDemand], func(t *testing.T) {
			p := startPebble(t, testpeers.PebbleOptions{})
			dir := t.TempDir()
			clientCA := testpeers.NewCA(t, dir, "client-ca")
			alice := clientCA.Issue(t, dir, "alice", 1)
			name, extra := "mtls.test", "\t\tchallenges tls-alpn-01\n"
			addr := name
			if onDemand {
				ask := newBackend(t, "ask", func(http.ResponseWriter, *http.Request) {})
				addr, extra = "https://", "\t\ton_demand\n\t\task "+ask.URL+"\n"
			}
			src := acmeGlobal(p, p.HTTPPort, p.TLSPort, "storage file "+t.TempDir()) + fmt.Sprintf(`
%s {
	tls {
%s		protocols tls1.3
		client_auth {
			trusted_ca_cert_file %s
		}
	}
	file_server {
		root %s
	}
}
`, addr, extra, clientCA.File, writeIndex(t))
			startProxy(t, src, nil)
			root, err := p.Root()
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(root)
			dial := func(mod func(*tls.Config)) (*tls.Conn, error) {
				tc := &tls.Config{ServerName: name, RootCAs: pool,
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &alice.TLS, nil }}
				if mod != nil {
					mod(tc)
				}
				c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.TLSPort), tc)
				if err != nil {
					return nil, err
				}
				// TLS 1.3: a refused client certificate shows on the first read.
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					c.Close()
					return nil, err
				}
				return c, nil
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				c, err := dial(nil)
				if err == nil {
					if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
						t.Errorf("version %s; want TLS 1.3", tls.VersionName(v))
					}
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no certificate for %s with a trusted client certificate: %v", name, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if p.Issued() != 1 {
				t.Errorf("pebble issued %d certificates; want 1", p.Issued())
			}
			for what, mod := range map[string]func(*tls.Config){
				"no client certificate": func(c *tls.Config) { c.GetClientCertificate = nil },
				"TLS 1.2":               func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			} {
				if c, err := dial(mod); err == nil {
					c.Close()
					t.Errorf("%s: handshake passed; want it refused", what)
				}
			}
		})
	}
}
