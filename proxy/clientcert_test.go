package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
)

// mtlsPKI is the certificates of the client certificate tests: a server
// certificate for *.test names from serverCA, client certificates for
// alice and bob from clientCA, and mallory's from a CA nobody trusts.
type mtlsPKI struct {
	dir                         string
	serverCA, clientCA, otherCA *testpeers.CA
	server, alice, bob, mallory *testpeers.Leaf
	roots                       *x509.CertPool
}

func newMTLSPKI(t testing.TB) *mtlsPKI {
	t.Helper()
	dir := t.TempDir()
	p := &mtlsPKI{dir: dir}
	p.serverCA = testpeers.NewCA(t, dir, "server-ca")
	p.clientCA = testpeers.NewCA(t, dir, "client-ca")
	p.otherCA = testpeers.NewCA(t, dir, "other-ca")
	p.server = p.serverCA.Issue(t, dir, "server", 2, "a.test", "b.test", "c.test")
	p.alice = p.clientCA.Issue(t, dir, "alice", 0x1234)
	p.bob = p.clientCA.Issue(t, dir, "bob", 0x5678)
	p.mallory = p.otherCA.Issue(t, dir, "mallory", 0x666)
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.serverCA.Cert)
	return p
}

// client is an HTTPS client that dials addr whatever the URL's host, so
// names like a.test reach the proxy; cert is its client certificate (nil:
// none). Each client has its own connections.
func (p *mtlsPKI) client(addr string, cert *testpeers.Leaf, mod func(*tls.Config)) *http.Client {
	tc := &tls.Config{RootCAs: p.roots}
	if cert != nil {
		// Sent whatever CAs the server names (Go's own choice would
		// withhold a certificate of a CA the server does not list).
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.TLS, nil }
	}
	if mod != nil {
		mod(tc)
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   tc,
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
	}
}

// headerRecorder is a member that records the request headers it got.
type headerRecorder struct {
	*backend
	mu   sync.Mutex
	last http.Header
}

func newHeaderRecorder(t *testing.T) *headerRecorder {
	h := &headerRecorder{}
	h.backend = newBackend(t, "rec", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.last = r.Header.Clone()
		h.mu.Unlock()
		io.WriteString(w, "ok\n")
	})
	return h
}

func (h *headerRecorder) got() http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func getWith(t *testing.T, c *http.Client, u string, hdr map[string]string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// TestClientAuthRequireAndVerify: with a trusted CA (and Caddy's default
// mode, require_and_verify) a client with a certificate from that CA
// reaches the member, which sees it through header_up placeholders and
// client_cert_headers; without a certificate, or with one from another CA,
// the handshake fails and the member sees nothing; a client's own
// SSL_CLIENT_* headers never reach the member.
func TestClientAuthRequireAndVerify(t *testing.T) {
	p := newMTLSPKI(t)
	rec := newHeaderRecorder(t)
	port := freePort(t)
	src := fmt.Sprintf(`{
	admin off
	storage file `+t.TempDir()+`
}
a.test:%d {
	tls %s %s {
		client_auth {
			trusted_ca_cert_file %s
		}
	}
	reverse_proxy {
		to rec=http://%s
		client_cert_headers
		header_up X-Client-Subject {http.request.tls.client.subject}
		header_up X-Client-Issuer {tls_client_issuer}
		header_up X-Client-Serial {http.request.tls.client.serial}
		header_up X-Client-Pem {http.request.tls.client.certificate_pem}
		header_up X-Client-Der {tls_client_certificate_der_base64}
		header_up X-Client-Email {http.request.tls.client.san.emails.0}
		header_up X-Client-Fp {http.request.tls.client.fingerprint}
		header_up X-Tls "{http.request.tls.version} {http.request.tls.cipher_suite} {http.request.tls.server_name} {http.request.tls.proto}"
	}
}
`, port, p.server.CertFile, p.server.KeyFile, p.clientCA.File, rec.hostport())
	startProxy(t, src, nil)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	base := fmt.Sprintf("https://a.test:%d/", port)

	forged := map[string]string{"SSL_CLIENT_S_DN": "CN=root", "Ssl-Client-Verify": "SUCCESS", "ssl_client_escaped_cert": "x", "X-Client-Subject": "CN=root"}
	resp, err := getWith(t, p.client(addr, p.alice, nil), base, forged)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET with alice's certificate = %v, %v; want 200", resp, err)
	}
	h := rec.got()
	leafPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.alice.Cert.Raw}))
	oneLine := strings.TrimSpace(strings.ReplaceAll(leafPEM, "\n", " "))
	for k, want := range map[string]string{
		"X-Client-Subject":      "CN=alice,O=Tether Test",
		"X-Client-Issuer":       "CN=client-ca,O=Tether Test",
		"X-Client-Serial":       "4660",
		"X-Client-Pem":          oneLine,
		"X-Client-Der":          base64.StdEncoding.EncodeToString(p.alice.Cert.Raw),
		"X-Client-Email":        "alice@example.com",
		"X-Tls":                 "tls1.3 TLS_AES_128_GCM_SHA256 a.test h2",
		"SSL_CLIENT_VERIFY":     "SUCCESS",
		"SSL_CLIENT_S_DN":       "CN=alice,O=Tether Test",
		"SSL_CLIENT_I_DN":       "CN=client-ca,O=Tether Test",
		"SSL_CLIENT_M_SERIAL":   "1234",
		"SSL_CLIENT_CERT":       oneLine,
		"SSL_PROTOCOL":          "TLSv1.3",
		"SSL_CIPHER":            "TLS_AES_128_GCM_SHA256",
		"SSL_CIPHER_USEKEYSIZE": "128",
		"SSL_CLIENT_V_END":      opensslTime(p.alice.Cert.NotAfter),
	} {
		if got := strings.Join(h.Values(k), "|"); got != want {
			t.Errorf("member header %s = %q; want %q", k, got, want)
		}
	}
	if fp := h.Get("X-Client-Fp"); len(fp) != 64 {
		t.Errorf("member header X-Client-Fp = %q; want 64 hex digits", fp)
	}
	if len(h.Get("SSL_SESSION_ID")) != 64 {
		t.Errorf("member header SSL_SESSION_ID = %q; want 64 hex digits", h.Get("SSL_SESSION_ID"))
	}
	for _, k := range []string{"Ssl-Client-Verify", "Ssl_client_escaped_cert"} {
		if v, ok := h[k]; ok {
			t.Errorf("member got the client's forged %s: %q", k, v)
		}
	}

	// No certificate, or one from a CA the site does not trust: no
	// handshake, and nothing reaches the member.
	before := rec.hits.Load()
	for name, c := range map[string]*http.Client{
		"no certificate":   p.client(addr, nil, nil),
		"untrusted CA":     p.client(addr, p.mallory, nil),
		"no cert, TLS 1.2": p.client(addr, nil, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }),
		"mallory, TLS 1.2": p.client(addr, p.mallory, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }),
	} {
		if resp, err := getWith(t, c, base, nil); err == nil {
			t.Errorf("%s: GET = %d; want the handshake refused", name, resp.StatusCode)
		}
	}
	if n := rec.hits.Load() - before; n != 0 {
		t.Errorf("member got %d requests from clients without a trusted certificate", n)
	}
}

// TestClientAuthModes: request and require ask without verifying (the
// member hears GENEROUS), verify_if_given lets clients without one pass
// (NONE) and refuses an untrusted one, pinned leaves admit only those.
func TestClientAuthModes(t *testing.T) {
	p := newMTLSPKI(t)
	rec := newHeaderRecorder(t)
	port := freePort(t)
	aliceDER := base64.StdEncoding.EncodeToString(p.alice.Cert.Raw)
	caDER := base64.StdEncoding.EncodeToString(p.clientCA.Cert.Raw)
	site := func(name, auth string) string {
		return fmt.Sprintf("%s:%d {\n\ttls %s %s {\n\t\tclient_auth {\n%s\n\t\t}\n\t}\n\treverse_proxy {\n\t\tto rec=http://%s\n\t\tclient_cert_headers apache\n\t\theader_up X-Subject {tls_client_subject}\n\t}\n}\n",
			name, port, p.server.CertFile, p.server.KeyFile, auth, rec.hostport())
	}
	src := "{\n\tadmin off\n\tstorage file " + t.TempDir() + "\n}\n" +
		site("request.test", "\t\t\tmode request") +
		site("require.test", "\t\t\tmode require") +
		site("require-ca.test", "\t\t\tmode require\n\t\t\ttrusted_ca_cert "+caDER) +
		site("optional.test", "\t\t\tmode verify_if_given\n\t\t\ttrust_pool file "+p.clientCA.File) +
		site("pinned.test", "\t\t\ttrusted_leaf_cert_file "+p.alice.CertFile) +
		site("pinned-ca.test", "\t\t\ttrusted_ca_cert "+caDER+"\n\t\t\ttrusted_leaf_cert "+aliceDER) +
		site("inline.test", "\t\t\ttrust_pool inline {\n\t\t\t\ttrust_der "+caDER+"\n\t\t\t}")
	// The server certificate does not name these: the clients skip the
	// name check and verify the chain only.
	startProxy(t, src, nil)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	anyName := func(c *tls.Config) {
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: p.roots})
			return err
		}
	}
	for _, tc := range []struct {
		name, host string
		cert       *testpeers.Leaf
		wantErr    bool
		verify     string // SSL_CLIENT_VERIFY at the member
		subject    string
	}{
		{name: "request without", host: "request.test", verify: "NONE"},
		{name: "request with untrusted", host: "request.test", cert: p.mallory, verify: "GENEROUS", subject: "CN=mallory,O=Tether Test"},
		{name: "require without", host: "require.test", wantErr: true},
		{name: "require with untrusted", host: "require.test", cert: p.mallory, verify: "GENEROUS", subject: "CN=mallory,O=Tether Test"},
		{name: "require with trusted", host: "require.test", cert: p.alice, verify: "GENEROUS", subject: "CN=alice,O=Tether Test"},
		{name: "require, CA named, untrusted", host: "require-ca.test", cert: p.mallory, verify: "GENEROUS", subject: "CN=mallory,O=Tether Test"},
		{name: "verify_if_given without", host: "optional.test", verify: "NONE"},
		{name: "verify_if_given trusted", host: "optional.test", cert: p.bob, verify: "SUCCESS", subject: "CN=bob,O=Tether Test"},
		{name: "verify_if_given untrusted", host: "optional.test", cert: p.mallory, wantErr: true},
		{name: "pinned alice", host: "pinned.test", cert: p.alice, verify: "SUCCESS", subject: "CN=alice,O=Tether Test"},
		{name: "pinned bob", host: "pinned.test", cert: p.bob, wantErr: true},
		{name: "pinned without", host: "pinned.test", wantErr: true},
		{name: "pinned and CA alice", host: "pinned-ca.test", cert: p.alice, verify: "SUCCESS", subject: "CN=alice,O=Tether Test"},
		{name: "pinned and CA bob", host: "pinned-ca.test", cert: p.bob, wantErr: true},
		{name: "pinned and CA mallory", host: "pinned-ca.test", cert: p.mallory, wantErr: true},
		{name: "inline pool bob", host: "inline.test", cert: p.bob, verify: "SUCCESS", subject: "CN=bob,O=Tether Test"},
		{name: "inline pool mallory", host: "inline.test", cert: p.mallory, wantErr: true},
		{name: "inline pool without", host: "inline.test", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.client(addr, tc.cert, func(c *tls.Config) { anyName(c); c.ServerName = tc.host })
			resp, err := getWith(t, c, "https://"+tc.host+"/", nil)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("GET %s = %d; want the handshake refused", tc.host, resp.StatusCode)
				}
				return
			}
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s = %v, %v; want 200", tc.host, resp, err)
			}
			h := rec.got()
			if got := h.Get("SSL_CLIENT_VERIFY"); got != tc.verify {
				t.Errorf("SSL_CLIENT_VERIFY = %q; want %q", got, tc.verify)
			}
			if got := h.Get("X-Subject"); got != tc.subject {
				t.Errorf("X-Subject = %q; want %q", got, tc.subject)
			}
			if got := h.Get("SSL_CLIENT_S_DN"); got != tc.subject {
				t.Errorf("SSL_CLIENT_S_DN = %q; want %q", got, tc.subject)
			}
		})
	}
}

// TestTLSProtocolsCiphersCurves: protocols, ciphers and curves limit what
// a handshake may use, per site on one listener (chosen by the server
// name), on internal and file certificates alike.
func TestTLSProtocolsCiphersCurves(t *testing.T) {
	p := newMTLSPKI(t)
	rec := newHeaderRecorder(t)
	port := freePort(t)
	src := fmt.Sprintf(`{
	admin off
	storage file %s
}
a.test:%[2]d {
	tls %[3]s %[4]s {
		protocols tls1.3
	}
	reverse_proxy http://%[5]s
}
b.test:%[2]d {
	tls %[3]s %[4]s {
		protocols tls1.2 tls1.2
		ciphers TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
		curves secp384r1
	}
	reverse_proxy http://%[5]s
}
d.test:%[2]d {
	tls internal {
		protocols tls1.2 tls1.2
	}
	reverse_proxy http://%[5]s
}
c.test:%[2]d {
	tls %[3]s %[4]s
	reverse_proxy http://%[5]s
}
`, t.TempDir(), port, p.server.CertFile, p.server.KeyFile, rec.hostport())
	srv, _ := startProxy(t, src, nil)
	root, _, err := srv.InternalRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dial := func(name string, mod func(*tls.Config)) (tls.ConnectionState, error) {
		tc := &tls.Config{ServerName: name, RootCAs: p.roots}
		if name == "d.test" {
			tc.RootCAs = x509.NewCertPool()
			tc.RootCAs.AppendCertsFromPEM(root)
		}
		if mod != nil {
			mod(tc)
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}
	tls12 := func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }
	for _, tc := range []struct {
		name, host string
		mod        func(*tls.Config)
		wantErr    string // a substring of the handshake error; "" for success
		check      func(tls.ConnectionState) string
	}{
		{name: "tls1.3 site, TLS 1.3 client", host: "a.test", check: func(cs tls.ConnectionState) string {
			return versionIs(cs, tls.VersionTLS13)
		}},
		{name: "tls1.3 site, TLS 1.2 client", host: "a.test", mod: tls12, wantErr: "protocol version"},
		{name: "tls1.2 site, TLS 1.3 only client", host: "b.test", mod: func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }, wantErr: "protocol version"},
		{name: "cipher not listed", host: "b.test", mod: func(c *tls.Config) {
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		}, wantErr: "handshake failure"},
		{name: "cipher listed", host: "b.test", check: func(cs tls.ConnectionState) string {
			if cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
				return "cipher " + tls.CipherSuiteName(cs.CipherSuite)
			}
			return versionIs(cs, tls.VersionTLS12)
		}},
		{name: "curve not listed", host: "b.test", mod: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519} }, wantErr: "handshake failure"},
		{name: "curve listed", host: "b.test", mod: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP384} }, check: func(cs tls.ConnectionState) string {
			if cs.CurveID != tls.CurveP384 {
				return "curve " + cs.CurveID.String()
			}
			return ""
		}},
		{name: "internal CA site, TLS 1.2 only", host: "d.test", check: func(cs tls.ConnectionState) string { return versionIs(cs, tls.VersionTLS12) }},
		{name: "site without settings", host: "c.test", check: func(cs tls.ConnectionState) string { return versionIs(cs, tls.VersionTLS13) }},
		{name: "site without settings, TLS 1.2", host: "c.test", mod: tls12, check: func(cs tls.ConnectionState) string { return versionIs(cs, tls.VersionTLS12) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := dial(tc.host, tc.mod)
			switch {
			case tc.wantErr != "" && err == nil:
				t.Fatalf("handshake with %s succeeded (%s); want %q", tc.host, tls.VersionName(cs.Version), tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("handshake with %s: %v; want %q", tc.host, err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("handshake with %s: %v", tc.host, err)
			case tc.check != nil:
				if msg := tc.check(cs); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func versionIs(cs tls.ConnectionState, v uint16) string {
	if cs.Version != v {
		return "version " + tls.VersionName(cs.Version) + "; want " + tls.VersionName(v)
	}
	return ""
}

// TestClientAuthCrossSite: on one listener, a client that shakes hands for
// a site without client_auth and then names the protected site in Host (or
// reuses an HTTP/2 connection for it) gets 421, never the protected site;
// the same with a certificate is served.
func TestClientAuthCrossSite(t *testing.T) {
	p := newMTLSPKI(t)
	rec := newHeaderRecorder(t)
	port := freePort(t)
	src := fmt.Sprintf(`{
	admin off
	storage file `+t.TempDir()+`
}
a.test:%[1]d {
	tls %[2]s %[3]s
	reverse_proxy http://%[4]s
}
b.test:%[1]d {
	tls %[2]s %[3]s {
		client_auth {
			trusted_ca_cert_file %[5]s
		}
	}
	reverse_proxy http://%[4]s
}
c.test:%[1]d {
	tls %[2]s %[3]s
	reverse_proxy http://%[4]s
}
`, port, p.server.CertFile, p.server.KeyFile, rec.hostport(), p.clientCA.File)
	startProxy(t, src, nil)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// The connection is made for a.test (its SNI), the request names b.test.
	front := p.client(addr, nil, func(c *tls.Config) { c.ServerName = "a.test" })
	before := rec.hits.Load()
	resp, err := getWith(t, front, fmt.Sprintf("https://b.test:%d/", port), nil)
	if err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("GET b.test over a.test's handshake = %v, %v; want 421", resp, err)
	}
	if rec.hits.Load() != before {
		t.Error("the protected site's member got a request from a handshake without a certificate")
	}
	// Sites with equal settings share connections (HTTP/2 coalescing).
	if resp, err := getWith(t, front, fmt.Sprintf("https://c.test:%d/", port), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET c.test over a.test's handshake = %v, %v; want 200 (equal settings)", resp, err)
	}
	withCert := p.client(addr, p.alice, nil)
	if resp, err := getWith(t, withCert, fmt.Sprintf("https://b.test:%d/", port), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET b.test with alice's certificate = %v, %v; want 200", resp, err)
	}
}

// TestClientAuthReload: a reload that adds client_auth applies to new
// handshakes at once, and a connection made before it is refused (421)
// instead of passing without a certificate; a reload with a CA file that
// cannot be read changes nothing.
func TestClientAuthReload(t *testing.T) {
	p := newMTLSPKI(t)
	rec := newHeaderRecorder(t)
	port := freePort(t)
	mk := func(auth string) string {
		return fmt.Sprintf("{\n\tadmin off\n\tstorage file "+p.dir+"\n}\na.test:%d {\n\ttls %s %s {\n%s\t}\n\treverse_proxy http://%s\n}\n", port, p.server.CertFile, p.server.KeyFile, auth, rec.hostport())
	}
	srv, _ := startProxy(t, mk(""), nil)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	base := fmt.Sprintf("https://a.test:%d/", port)
	old := p.client(addr, nil, nil)
	if resp, err := getWith(t, old, base, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET before the reload = %v, %v", resp, err)
	}
	reload := func(src string) error {
		cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
		if err != nil {
			return err
		}
		return srv.Reload(cfg)
	}
	if err := reload(mk("\t\tclient_auth {\n\t\t\ttrusted_ca_cert_file " + p.clientCA.File + "\n\t\t}\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := getWith(t, old, base, nil)
	if err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET on the connection made before the reload = %v, %v; want 421", resp, err)
	}
	if _, err := getWith(t, p.client(addr, nil, nil), base, nil); err == nil {
		t.Error("a new handshake without a certificate passed after the reload added client_auth")
	}
	if resp, err := getWith(t, p.client(addr, p.alice, nil), base, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET with alice's certificate after the reload = %v, %v; want 200", resp, err)
	}
	// A CA file that is gone: the reload fails at its line, the running
	// settings stay.
	err = reload(mk("\t\tclient_auth {\n\t\t\ttrusted_ca_cert_file " + filepath.Join(p.dir, "gone.pem") + "\n\t\t}\n"))
	if _, ok := errors.AsType[*config.Error](err); !ok {
		t.Errorf("reload with a missing CA file: %v; want a config error", err)
	}
	if resp, err := getWith(t, p.client(addr, p.alice, nil), base, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET with alice's certificate after the failed reload = %v, %v; want 200", resp, err)
	}
}

// albCert is a certificate as an ALB puts it in X-Amzn-Mtls-Clientcert:
// URL-encoded PEM with "+=/" left as they are.
func albCert(certs ...*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	s := url.QueryEscape(b.String())
	return strings.NewReplacer("%2B", "+", "%3D", "=", "%2F", "/", "+", "%20").Replace(s)
}

// TestALBClientCert: behind an ALB doing mutual TLS, a trusted proxy's
// X-Amzn-Mtls-Clientcert-Leaf (verify mode) is the client's certificate,
// verified; its X-Amzn-Mtls-Clientcert (passthrough) is checked against
// the site's client_auth; from any other peer both are removed and not
// believed.
func TestALBClientCert(t *testing.T) {
	p := newMTLSPKI(t)
	rec := newHeaderRecorder(t)
	port := freePort(t)
	src := fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:%[1]d {
	trusted_proxies 127.0.0.1
	reverse_proxy http://%[2]s {
		client_cert_headers
		header_up X-Subject {tls_client_subject}
	}
}
http://127.0.0.2:%[1]d {
	reverse_proxy http://%[2]s {
		client_cert_headers
		header_up X-Subject {tls_client_subject}
	}
}
`, port, rec.hostport())
	startProxy(t, src, nil)
	httpsPort := freePort(t)
	src2 := fmt.Sprintf(`{
	admin off
	storage file `+t.TempDir()+`
}
a.test:%[1]d {
	trusted_proxies 127.0.0.1
	tls %[2]s %[3]s {
		client_auth {
			mode verify_if_given
			trusted_ca_cert_file %[4]s
		}
	}
	reverse_proxy http://%[5]s {
		client_cert_headers
		header_up X-Subject {tls_client_subject}
	}
}
`, httpsPort, p.server.CertFile, p.server.KeyFile, p.clientCA.File, rec.hostport())
	startProxy(t, src2, nil)

	leaf := albCert(p.alice.Cert)
	chain := albCert(p.alice.Cert, p.clientCA.Cert)
	edge := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range edge {
			m[a] = b
		}
		return m
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name       string
		url        string
		client     *http.Client
		hdr        map[string]string
		status     int
		verify     string // SSL_CLIENT_VERIFY at the member
		subject    string
		albPassing bool // the ALB headers reach the member
	}{
		{name: "verify mode leaf, trusted", url: fmt.Sprintf("http://127.0.0.1:%d/", port), client: plain,
			hdr: with("X-Amzn-Mtls-Clientcert-Leaf", leaf), status: 200, verify: "SUCCESS", subject: "CN=alice,O=Tether Test", albPassing: true},
		{name: "passthrough chain, no client_auth to verify it", url: fmt.Sprintf("http://127.0.0.1:%d/", port), client: plain,
			hdr: with("X-Amzn-Mtls-Clientcert", chain), status: 200, verify: "GENEROUS", subject: "CN=alice,O=Tether Test", albPassing: true},
		{name: "garbage from a trusted proxy", url: fmt.Sprintf("http://127.0.0.1:%d/", port), client: plain,
			hdr: with("X-Amzn-Mtls-Clientcert-Leaf", "-----BEGIN%20CERTIFICATE-----%0Anope"), status: 200, verify: "NONE", albPassing: true},
		{name: "untrusted peer", url: fmt.Sprintf("http://127.0.0.2:%d/", port), client: plain,
			hdr: with("X-Amzn-Mtls-Clientcert-Leaf", leaf), status: 200, verify: "", subject: ""},
		{name: "passthrough verified by client_auth", url: fmt.Sprintf("https://a.test:%d/", httpsPort), client: p.client("127.0.0.1:"+strconv.Itoa(httpsPort), nil, nil),
			hdr: with("X-Amzn-Mtls-Clientcert", chain), status: 200, verify: "SUCCESS", subject: "CN=alice,O=Tether Test", albPassing: true},
		{name: "passthrough refused by client_auth", url: fmt.Sprintf("https://a.test:%d/", httpsPort), client: p.client("127.0.0.1:"+strconv.Itoa(httpsPort), nil, nil),
			hdr: with("X-Amzn-Mtls-Clientcert", albCert(p.mallory.Cert, p.otherCA.Cert)), status: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.hits.Load()
			resp, err := getWith(t, tc.client, tc.url, tc.hdr)
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("GET = %v, %v; want %d", resp, err, tc.status)
			}
			if tc.status != 200 {
				if rec.hits.Load() != before {
					t.Error("the member got a request whose certificate the site refused")
				}
				return
			}
			h := rec.got()
			if got := h.Get("SSL_CLIENT_VERIFY"); got != tc.verify {
				t.Errorf("SSL_CLIENT_VERIFY = %q; want %q", got, tc.verify)
			}
			if got := h.Get("X-Subject"); got != tc.subject {
				t.Errorf("X-Subject = %q; want %q", got, tc.subject)
			}
			_, leafPassed := h["X-Amzn-Mtls-Clientcert-Leaf"]
			_, chainPassed := h["X-Amzn-Mtls-Clientcert"]
			if got := leafPassed || chainPassed; got != tc.albPassing {
				t.Errorf("ALB headers reached the member: %v; want %v", got, tc.albPassing)
			}
		})
	}
}

// TestTLSPlaceholdersWithoutTLS: the TLS placeholders are empty on plain
// HTTP, and a client's header of the name header_up sets is replaced.
func TestTLSPlaceholdersWithoutTLS(t *testing.T) {
	rec := newHeaderRecorder(t)
	_, site := startProxy(t, fmt.Sprintf("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy http://%s {\n\t\theader_up X-Subject {tls_client_subject}\n\t\theader_up X-Version \"v={tls_version}\"\n\t\tclient_cert_headers\n\t}\n}\n", rec.hostport()), nil)
	if _, err := getWith(t, http.DefaultClient, site+"/", map[string]string{"X-Subject": "CN=root", "SSL_CLIENT_VERIFY": "SUCCESS"}); err != nil {
		t.Fatal(err)
	}
	h := rec.got()
	if v, ok := h["X-Subject"]; !ok || strings.Join(v, "") != "" {
		t.Errorf("X-Subject = %q (present %v); want the client's value replaced by an empty one", v, ok)
	}
	if got := h.Get("X-Version"); got != "v=" {
		t.Errorf("X-Version = %q; want \"v=\"", got)
	}
	for k := range h {
		if strings.HasPrefix(strings.ToUpper(k), "SSL_") {
			t.Errorf("member got %s over plain HTTP: %q", k, h[k])
		}
	}
}
