package certs

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
)

// recorder is a connection that records its handshake's settings.
type recorder struct {
	net.Conn
	got *Conn
}

func (r *recorder) RecordHandshake(c *Conn) { r.got = c }

// TestConfigForClient: each site's handshake settings are chosen by the
// hello's server name, as its certificate is; a name no site serves gets
// the unnamed site's; an ACME TLS-ALPN-01 validation gets the base config
// (the CA has no client certificate); the connection learns which
// settings it was made with; Update (a reload) changes them in place.
func TestConfigForClient(t *testing.T) {
	dir := t.TempDir()
	ca := testpeers.NewCA(t, dir, "ca")
	parse := func(src string) *config.Config {
		cfg, err := config.Parse("Caddyfile", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := parse(`{
	admin off
}
a.test {
	tls internal {
		protocols tls1.3
		client_auth {
			trusted_ca_cert ` + base64.StdEncoding.EncodeToString(ca.Cert.Raw) + `
		}
	}
}
b.test {
	tls internal
}
https:// {
	tls internal {
		ciphers TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
	}
}
`)
	m := NewManager(&cfg.Global, dir, zerolog.Nop())
	lt := m.NewListener()
	for i, host := range []string{"a.test", "b.test", ""} {
		p, err := m.PolicyFor(&cfg.Sites[i], host)
		if err != nil {
			t.Fatal(err)
		}
		lt.Add(host, p)
	}
	base := lt.Config()
	pick := func(name string, protos ...string) (*tls.Config, *Conn) {
		r := &recorder{}
		c, err := lt.configForClient(&tls.ClientHelloInfo{ServerName: name, SupportedProtos: protos, Conn: r})
		if err != nil {
			t.Fatal(err)
		}
		return c, r.got
	}
	cfgA, connA := pick("A.test.")
	if cfgA == nil || cfgA.MinVersion != tls.VersionTLS13 || cfgA.ClientAuth != tls.RequireAndVerifyClientCert || cfgA.ClientCAs == nil || !cfgA.SessionTicketsDisabled {
		t.Errorf("a.test's config = %+v; want TLS 1.3, require_and_verify with the CA, no tickets", cfgA)
	}
	if connA == nil || connA.ClientAuth() != "require_and_verify" || connA.Key == "" {
		t.Errorf("a.test's recorded settings = %+v", connA)
	}
	if cfgA != nil && (cfgA.GetCertificate == nil || len(cfgA.NextProtos) != len(base.NextProtos)) {
		t.Error("a.test's config lost the listener's certificates or ALPN")
	}
	if c, conn := pick("b.test"); c != nil || conn != DefaultConn {
		t.Errorf("b.test (no settings) = %v, %v; want the base config and DefaultConn", c, conn)
	}
	if c, _ := pick("other.test"); c == nil || len(c.CipherSuites) != 1 || c.CipherSuites[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("an unknown name = %+v; want the unnamed site's config", c)
	}
	if c, conn := pick("a.test", "acme-tls/1"); c != nil || conn != DefaultConn {
		t.Errorf("a TLS-ALPN-01 validation for a.test = %v, %v; want the base config", c, conn)
	}

	// A reload: a.test loses its settings, b.test gains some.
	cfg2 := parse("{\n\tadmin off\n}\na.test {\n\ttls internal\n}\nb.test {\n\ttls internal {\n\t\tprotocols tls1.2 tls1.2\n\t}\n}\nhttps:// {\n\ttls internal\n}\n")
	m2 := NewManager(&cfg2.Global, dir, zerolog.Nop())
	lt2 := m2.NewListener()
	for i, host := range []string{"a.test", "b.test", ""} {
		p, _ := m2.PolicyFor(&cfg2.Sites[i], host)
		lt2.Add(host, p)
	}
	lt.Update(lt2)
	if c, conn := pick("a.test"); c != nil || conn != DefaultConn {
		t.Errorf("a.test after the reload = %v, %v; want the base config", c, conn)
	}
	if c, conn := pick("b.test"); c == nil || c.MaxVersion != tls.VersionTLS12 || conn.Key == "" {
		t.Errorf("b.test after the reload = %+v; want TLS 1.2 only", c)
	}
}

// TestConnKeys: equal settings have equal keys (sites may share
// connections), different ones (a CA included) different keys.
func TestConnKeys(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := testpeers.NewCA(t, dir, "ca1"), testpeers.NewCA(t, dir, "ca2")
	conn := func(block string) *Conn {
		cfg, err := config.Parse("Caddyfile", []byte("a.test {\n\ttls internal {\n"+block+"\t}\n}\n"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewConn(cfg.Sites[0].TLS)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(f string) string { return "\t\tclient_auth {\n\t\t\ttrusted_ca_cert_file " + f + "\n\t\t}\n" }
	if k := conn("").Key; k != "" {
		t.Errorf("no settings: key %q; want \"\"", k)
	}
	same := [][2]string{
		{"\t\tprotocols tls1.2\n", "\t\tprotocols tls1.2 tls1.3\n"},
		{"\t\tciphers TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n", "\t\tciphers TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"},
		{ca(ca1.File), "\t\tclient_auth {\n\t\t\tmode require_and_verify\n\t\t\ttrust_pool file " + ca1.File + "\n\t\t}\n"},
	}
	for _, p := range same {
		if a, b := conn(p[0]).Key, conn(p[1]).Key; a != b {
			t.Errorf("keys differ for equal settings:\n%q\n%q", a, b)
		}
	}
	different := [][2]string{
		{"\t\tprotocols tls1.2\n", "\t\tprotocols tls1.3\n"},
		{ca(ca1.File), ca(ca2.File)},
		{ca(ca1.File), "\t\tclient_auth {\n\t\t\tmode verify_if_given\n\t\t\ttrusted_ca_cert_file " + ca1.File + "\n\t\t}\n"},
	}
	for _, p := range different {
		if a, b := conn(p[0]).Key, conn(p[1]).Key; a == b {
			t.Errorf("keys equal for different settings: %q", a)
		}
	}
}

// TestConfigForClientAllocs: choosing a handshake's settings allocates
// nothing.
func TestConfigForClientAllocs(t *testing.T) {
	lt := filesListener(t, "localhost")
	lt.Config()
	hello := &tls.ClientHelloInfo{ServerName: "localhost", SupportedProtos: []string{"h2", "http/1.1"}, Conn: &recorder{}}
	if n := testing.AllocsPerRun(100, func() { lt.configForClient(hello) }); n != 0 {
		t.Errorf("configForClient(%q) allocates %v times; want 0", hello.ServerName, n)
	}
}
