package certs

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
)

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
func filesListener(tb testing.TB, name string) *Listener {
	tb.Helper()
	certFile, keyFile, _ := testpeers.WriteSelfSigned(tb, tb.TempDir(), name)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		tb.Fatal(err)
	}
	lt := NewManager(&config.Global{}, "", zerolog.Nop()).NewListener()
	lt.Add(name, &Policy{kind: kindFiles, cert: &cert})
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
	ln, err := tls.Listen("tcp", "127.0.0.1:0", lt.Config())
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
