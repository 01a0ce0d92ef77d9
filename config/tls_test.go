package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLSSettingErrors: every bad handshake setting is an error at the
// file:line:col of the token at fault, and changes nothing.
func TestTLSSettingErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	os.WriteFile(key, []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n"), 0o600)
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("not PEM at all\n"), 0o600)
	missing := filepath.Join(dir, "missing.pem")
	site := func(block string) string {
		return "a.example {\n\ttls internal {\n" + block + "\t}\n}\n"
	}
	for _, tc := range []struct {
		name, src, want string
	}{
		{name: "unknown protocol", src: site("\t\tprotocols tls1.4\n"), want: "Caddyfile:3:13: protocols: unknown version \"tls1.4\" (want tls1.2 or tls1.3)"},
		{name: "old protocol", src: site("\t\tprotocols tls1.1 tls1.3\n"), want: "Caddyfile:3:13: protocols: tls1.1 is insecure and not supported"},
		{name: "min above max", src: site("\t\tprotocols tls1.3 tls1.2\n"), want: "Caddyfile:3:20: protocols: the highest version tls1.2 is below the lowest, tls1.3"},
		{name: "protocols arity", src: site("\t\tprotocols tls1.2 tls1.3 tls1.3\n"), want: "Caddyfile:3:27: protocols: unexpected argument \"tls1.3\""},
		{name: "protocols twice", src: site("\t\tprotocols tls1.2\n\t\tprotocols tls1.3\n"), want: "Caddyfile:4:3: protocols is set twice (first at Caddyfile:3:3)"},
		{name: "unknown cipher", src: site("\t\tciphers TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 TLS_FOO\n"), want: "Caddyfile:3:49: ciphers: unknown cipher suite \"TLS_FOO\" (want one of TLS_"},
		{name: "insecure cipher", src: site("\t\tciphers TLS_RSA_WITH_RC4_128_SHA\n"), want: "Caddyfile:3:11: ciphers: TLS_RSA_WITH_RC4_128_SHA has known weaknesses and is not offered"},
		{name: "only TLS 1.3 suites", src: site("\t\tciphers TLS_AES_128_GCM_SHA256\n"), want: "Caddyfile:3:3: ciphers: no TLS 1.2 suite is listed"},
		{name: "no HTTP/2 suite", src: site("\t\tciphers TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n"), want: "Caddyfile:3:3: ciphers: HTTP/2 over TLS 1.2 needs an ECDHE suite with AES-GCM or ChaCha20"},
		{name: "unknown curve", src: site("\t\tcurves x25519 p256\n"), want: "Caddyfile:3:17: curves: unknown curve \"p256\" (want x25519, secp256r1, secp384r1, secp521r1 or x25519mlkem768)"},
		{name: "TLS 1.3 only curve", src: site("\t\tcurves x25519mlkem768\n"), want: "Caddyfile:3:3: curves: x25519mlkem768 works with TLS 1.3 only, so no TLS 1.2 client could connect"},
		{name: "unknown mode", src: site("\t\tclient_auth {\n\t\t\tmode always\n\t\t}\n"), want: "Caddyfile:4:9: mode: unknown mode \"always\" (want request, require, verify_if_given or require_and_verify)"},
		{name: "verify without trust", src: site("\t\tclient_auth {\n\t\t\tmode require_and_verify\n\t\t}\n"), want: "Caddyfile:4:4: client_auth: mode require_and_verify needs trusted certificates to verify against"},
		{name: "missing CA file", src: site("\t\tclient_auth {\n\t\t\ttrusted_ca_cert_file " + missing + "\n\t\t}\n"), want: "Caddyfile:4:25: trusted_ca_cert_file: stat " + missing + ": no such file or directory"},
		{name: "key in CA file", src: site("\t\tclient_auth {\n\t\t\ttrusted_ca_cert_file " + key + "\n\t\t}\n"), want: "Caddyfile:4:25: trusted_ca_cert_file: " + key + " holds a PRIVATE KEY, not only certificates"},
		{name: "no PEM in leaf file", src: site("\t\tclient_auth {\n\t\t\ttrusted_leaf_cert_file " + empty + "\n\t\t}\n"), want: "Caddyfile:4:27: trusted_leaf_cert_file: " + empty + " holds no PEM certificate"},
		{name: "inline not base64", src: site("\t\tclient_auth {\n\t\t\ttrusted_ca_cert not*base64\n\t\t}\n"), want: "Caddyfile:4:20: trusted_ca_cert: not base64 DER"},
		{name: "inline not a certificate", src: site("\t\tclient_auth {\n\t\t\ttrusted_leaf_cert aGVsbG8=\n\t\t}\n"), want: "Caddyfile:4:22: trusted_leaf_cert: not a certificate"},
		{name: "pool and ca cert", src: site("\t\tclient_auth {\n\t\t\ttrusted_ca_cert MIIBojCCAUegAwIBAgIUCM1skgKuvtsM4qySPdmucZgLiWIwCgYIKoZIzj0EAwIwJTEPMA0GA1UECgwGVGV0aGVyMRIwEAYDVQQDDAlTZWNvbmQgQ0EwIBcNMjYxMjA3MTY0NDM0WhgPMjEyNjExMTMxNjQ0MzRaMCUxDzANBgNVBAoMBlRldGhlcjESMBAGA1UEAwwJU2Vjb25kIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC4eBo1aH8Cqf+Kajz83b6OVzl/uNGM7pwG4moh/XC/Qr2smioypZjLdlyYHMG43+8uRoRsVEeL7OSXx90OvvDKNTMFEwHQYDVR0OBBYEFN9ePoH/jjrCwnxrnh9Bb0qoQdsZMB8GA1UdIwQYMBaAFN9ePoH/jjrCwnxrnh9Bb0qoQdsZMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAMV7tmBv11E84+VsEPhUDeI5wwzGpi2NUBlIEzujcGa+AiEAlocRLUgzg5ukPWNgW+ljOYVsD+bsmuEK7e+CnRWQbjE=\n\t\t\ttrust_pool inline {\n\t\t\t\ttrust_der MIIBojCCAUegAwIBAgIUCM1skgKuvtsM4qySPdmucZgLiWIwCgYIKoZIzj0EAwIwJTEPMA0GA1UECgwGVGV0aGVyMRIwEAYDVQQDDAlTZWNvbmQgQ0EwIBcNMjYxMjA3MTY0NDM0WhgPMjEyNjExMTMxNjQ0MzRaMCUxDzANBgNVBAoMBlRldGhlcjESMBAGA1UEAwwJU2Vjb25kIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC4eBo1aH8Cqf+Kajz83b6OVzl/uNGM7pwG4moh/XC/Qr2smioypZjLdlyYHMG43+8uRoRsVEeL7OSXx90OvvDKNTMFEwHQYDVR0OBBYEFN9ePoH/jjrCwnxrnh9Bb0qoQdsZMB8GA1UdIwQYMBaAFN9ePoH/jjrCwnxrnh9Bb0qoQdsZMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAMV7tmBv11E84+VsEPhUDeI5wwzGpi2NUBlIEzujcGa+AiEAlocRLUgzg5ukPWNgW+ljOYVsD+bsmuEK7e+CnRWQbjE=\n\t\t\t}\n\t\t}\n"), want: "Caddyfile:5:4: trust_pool: trusted_ca_cert at Caddyfile:4:4 already names the CAs"},
		{name: "pool provider", src: site("\t\tclient_auth {\n\t\t\ttrust_pool pki_root local\n\t\t}\n"), want: "Caddyfile:4:15: trust_pool: provider \"pki_root\" is not supported (want file or inline)"},
		{name: "empty pool", src: site("\t\tclient_auth {\n\t\t\ttrust_pool file\n\t\t}\n"), want: "Caddyfile:4:4: trust_pool file: no certificate given"},
		{name: "verifier", src: site("\t\tclient_auth {\n\t\t\tverifier leaf file x.pem\n\t\t}\n"), want: "Caddyfile:4:4: client_auth: verifier modules are not supported"},
		{name: "unknown client_auth option", src: site("\t\tclient_auth {\n\t\t\tmodes require\n\t\t}\n"), want: "Caddyfile:4:4: unknown client_auth option \"modes\""},
		{name: "client_auth argument", src: site("\t\tclient_auth require\n"), want: "Caddyfile:3:15: client_auth: unexpected argument \"require\""},
		{name: "http site", src: "http://a.example {\n\ttls {\n\t\tprotocols tls1.3\n\t}\n}\n", want: "Caddyfile:2:2: tls: protocols, ciphers, curves and client_auth apply to https addresses, and the site has none"},
		{name: "settings with tls off", src: "a.example:8080 {\n\ttls off {\n\t\tprotocols tls1.3\n\t}\n}\n", want: "Caddyfile:2:10: tls takes no block"},
		{name: "unknown tls placeholder", src: "a.example {\n\treverse_proxy 10.0.0.1:80 {\n\t\theader_up X-C {http.request.tls.client.name}\n\t}\n}\n", want: "Caddyfile:3:17: unknown placeholder {http.request.tls.client.name}"},
		{name: "client_cert_headers style", src: "a.example {\n\treverse_proxy 10.0.0.1:80 {\n\t\tclient_cert_headers nginx\n\t}\n}\n", want: "Caddyfile:3:23: client_cert_headers: unknown style \"nginx\" (want apache)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("Caddyfile", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error; want %q", tc.src, tc.want)
			}
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Errorf("Parse error %v is a %T; want *config.Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Parse error = %q; want it to start with %q", err, tc.want)
			}
		})
	}
}

// TestTLSSettingWarnings: settings that do nothing are accepted with a
// warning at their line.
func TestTLSSettingWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, block, want string
	}{
		{name: "ciphers with TLS 1.3 only", block: "\t\tprotocols tls1.3\n\t\tciphers TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n", want: "Caddyfile:4:3: warning: ciphers: protocols tls1.3 allows TLS 1.3 only"},
		{name: "trusted CA with require", block: "\t\tclient_auth {\n\t\t\tmode require\n\t\t\ttrusted_ca_cert_file testdata/tls/ca.pem\n\t\t}\n", want: "Caddyfile:4:4: warning: client_auth: mode require verifies nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("Caddyfile", []byte("a.example {\n\ttls internal {\n"+tc.block+"\t}\n}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) != 1 || !strings.HasPrefix(cfg.Warnings[0].String(), tc.want) {
				t.Errorf("Warnings = %v; want one starting with %q", cfg.Warnings, tc.want)
			}
		})
	}
}

// TestTLSFields: the {http.request.tls.*} fields Caddy has, with indexed
// SAN lists, and nothing else.
func TestTLSFields(t *testing.T) {
	for f, want := range map[string]bool{
		"version": true, "client.subject": true, "client.san.dns_names": true, "client.san.ips.0": true,
		"client.san.uris.12": true, "client.san.emails.-1": false, "client.san.emails.+1": false,
		"client.subject.0": false, "client.san.x.0": false, "client": false, "": false,
	} {
		if got := IsTLSField(f); got != want {
			t.Errorf("IsTLSField(%q) = %v; want %v", f, got, want)
		}
	}
}
