package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// sslFiles is testdata/apache/ssl at /etc/httpd/conf, with the lab's test
// CA as the client CA, and a hashed CA directory.
func sslFiles(t *testing.T) memFS {
	t.Helper()
	files := memFS{}
	for src, dst := range map[string]string{
		"testdata/apache/ssl/httpd.conf":         "/etc/httpd/conf/httpd.conf",
		"testdata/apache/ssl/workers.properties": "/etc/httpd/conf/workers.properties",
		"testdata/tls/ca.pem":                    "/etc/httpd/conf/ssl/clients-ca.pem",
		"testdata/tls/bundle.pem":                "/etc/httpd/conf/ssl/ca.d/5a1b2c3d.0",
		"testdata/tls/leaf.pem":                  "/etc/httpd/conf/ssl/ca.d/README.pem", // not a hash name: OpenSSL never reads it
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		files[dst] = string(b)
	}
	return files
}

// TestApacheSSLGolden imports mod_ssl's handshake settings (SSLProtocol,
// SSLCipherSuite, SSLVerifyClient with SSLCACertificateFile and
// SSLCACertificatePath, what the virtual hosts inherit from the main
// server) into each site's tls block, compares the Caddyfile and warnings
// with golden files, and checks what the parsed sites offer.
func TestApacheSSLGolden(t *testing.T) {
	o := sslFiles(t).opts()
	out, warns, err := o.ImportApacheCaddyfile(ImportApache{File: "/etc/httpd/conf/httpd.conf"})
	if err != nil {
		t.Fatalf("ImportApacheCaddyfile: %v", err)
	}
	golden(t, "testdata/apache/ssl.golden.Caddyfile", string(out))
	golden(t, "testdata/apache/ssl.golden.warnings", warningsText(warns)+"\n")
	cfg, err := o.Parse("/etc/tether/Caddyfile", []byte("{\n\timport_apache /etc/httpd/conf/httpd.conf\n}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	byAddr := map[string]*Site{}
	for i := range cfg.Sites {
		for _, a := range cfg.Sites[i].Addresses {
			byAddr[a.Raw] = &cfg.Sites[i]
		}
	}
	type want struct {
		min, max, mode string
		ciphers        []string
		cas            int
	}
	ecdheGCM := []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}
	for addr, w := range map[string]want{
		"https://secure.example.com:443": {min: "tls1.3", mode: "require_and_verify", cas: 1},
		"https://shop.example.com:443": {mode: "verify_if_given", cas: 2,
			ciphers: append(slices.Clone(ecdheGCM), "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")},
		"https://legacy.example.com:8443": {min: "tls1.2", max: "tls1.2", mode: "request", ciphers: append(slices.Clone(ecdheGCM), "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA")},
		"https://old.example.com:9443":    {},
	} {
		s := byAddr[addr]
		if s == nil || s.TLS == nil {
			t.Errorf("no TLS site %s", addr)
			continue
		}
		mode, cas := "", 0
		if ca := s.TLS.ClientAuth; ca != nil {
			mode, cas = ca.Mode, len(ca.TrustedCAs)
		}
		slices.Sort(w.ciphers)
		got := slices.Sorted(slices.Values(s.TLS.Ciphers))
		if s.TLS.ProtocolMin != w.min || s.TLS.ProtocolMax != w.max || mode != w.mode || cas != w.cas || !slices.Equal(got, w.ciphers) {
			t.Errorf("%s: protocols %q %q, client_auth %q with %d CAs, ciphers %v; want %q %q, %q with %d, %v",
				addr, s.TLS.ProtocolMin, s.TLS.ProtocolMax, mode, cas, got, w.min, w.max, w.mode, w.cas, w.ciphers)
		}
	}
	for _, msg := range []string{
		"SSLProtocol TLSv1 +TLSv1.1: httpd offers only TLSv1 and TLSv1.1",
		"SSLCipherSuite: DHE-RSA-AES128-GCM-SHA256, DHE-RSA-AES256-GCM-SHA384: Tether does not offer them",
		"SSLCipherSuite: RC4-SHA: Tether does not offer it",
		"SSLCipherSuite AES256-SHA:DES-CBC3-SHA:ECDHE-RSA-AES256-SHA: selects no ECDHE suite with AES-GCM or ChaCha20",
		"SSLCipherSuite TLSv1.3 TLS_AES_256_GCM_SHA384: TLS 1.3 suites are not configurable",
		"SSLVerifyDepth 2: Tether verifies chains of any length",
		"SSLVerifyClient in <Location /shop/admin>: not imported",
		"SSLVerifyClient optional_no_ca: Tether asks for a certificate and does not verify it",
		"JkEnvVar SSL_CLIENT_CERT: not sent as an attribute of that name",
	} {
		if !strings.Contains(warningsText(warns), msg) {
			t.Errorf("warnings lack %q:\n%s", msg, warningsText(warns))
		}
	}
	if strings.Contains(warningsText(warns), "ForwardSSLCertChain") {
		t.Errorf("JkOptions +ForwardSSLCertChain is warned, though Tether sends the chain as it does:\n%s", warningsText(warns))
	}
}

// TestApacheSSLErrors: what httpd refuses to start with is an error at the
// httpd file's line and column.
func TestApacheSSLErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"SSLProtocol all -TLSv9\n", "httpd.conf:1:17: SSLProtocol: Illegal protocol 'TLSv9'"},
		{"SSLProtocol +SSLv2\n", "httpd.conf:1:13: SSLProtocol: SSLv2 is no longer supported"},
		{"SSLProtocol\n", "httpd.conf:1:1: SSLProtocol takes at least one protocol"},
		{"SSLVerifyClient always\n", "httpd.conf:1:17: SSLVerifyClient: Invalid argument 'always'"},
		{"SSLVerifyDepth -1\n", "httpd.conf:1:16: SSLVerifyDepth: Invalid argument '-1'"},
		{"SSLCipherSuite TLSv1.4 HIGH\n", "httpd.conf:1:16: SSLCipherSuite: protocol not supported: TLSv1.4"},
		{"Listen 443\n<VirtualHost *:443>\nSSLEngine on\nSSLCertificateFile /c.pem\nSSLVerifyClient require\n</VirtualHost>\n",
			"httpd.conf:5:1: SSLVerifyClient require without SSLCACertificateFile or SSLCACertificatePath"},
	} {
		o := memFS{"/etc/httpd/httpd.conf": tc.conf}.opts()
		_, err := o.ApacheCaddyfile(ImportApache{File: "/etc/httpd/httpd.conf"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v; want %q", tc.conf, err, tc.want)
		}
	}
}

// TestApacheCipherSuite evaluates OpenSSL cipher strings over the suites
// Tether offers, as OpenSSL's rules select them.
func TestApacheCipherSuite(t *testing.T) {
	all := len(apSuites) // 10 in Go 1.26: ECDHE with AES-GCM, ChaCha20 and AES-CBC-SHA
	for _, tc := range []struct {
		spec        string
		n           int
		unsupported string
	}{
		{"HIGH:!aNULL:!MD5", all, ""},
		{"DEFAULT", all, ""},
		{"ALL:!RSA", all, ""}, // Go offers no RSA key exchange suite
		{"AES128-SHA:ECDHE-RSA-AES128-SHA", 1, "AES128-SHA"},
		{"ECDHE+AESGCM", 4, ""},
		{"EECDH+AESGCM:EDH+AESGCM", 4, ""},
		{"ECDHE-RSA-AES128-GCM-SHA256", 1, ""},
		{"ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES128-SHA256", 1, "ECDHE-RSA-AES128-SHA256"},
		{"HIGH:-AES256:+AES128", 6, ""},
		{"AES:!ECDHE+CHACHA20:!SHA1", 4, ""},
		{"!AESGCM:AESGCM", 0, ""},
		{"-AESGCM:AESGCM", 4, ""},
		{"kECDHE+aRSA:@STRENGTH:@SECLEVEL=2", 5, ""},
		{"TLS_AES_128_GCM_SHA256:CHACHA20", 2, ""},
		{"NOTACIPHER:MEDIUM:3DES:DHE-RSA-AES256-SHA", 0, "DHE-RSA-AES256-SHA"},
	} {
		names, unsupported, _ := apCipherSuite(tc.spec)
		if len(names) != tc.n || strings.Join(unsupported, ",") != tc.unsupported {
			t.Errorf("%q: %d suites %v, unsupported %v; want %d, %q", tc.spec, len(names), names, unsupported, tc.n, tc.unsupported)
		}
	}
}
