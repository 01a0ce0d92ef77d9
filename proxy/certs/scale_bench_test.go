package certs

import (
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
)

// BenchmarkScaleSNI is the per-handshake choice of certificate and
// handshake settings (getCertificate and configForClient, both called for
// every full handshake) on a listener with 1, 100 and 10,000 site names:
// exact names, wildcard names ("*.siteN.example.com", the hello naming a
// host under the last one added), and a hello without a server name (the
// listener's IP-address site). One run prints the curve (bench/README.md):
//
//	go test -run XXX -bench Scale -benchtime 200ms -count 3 ./proxy/certs/
func BenchmarkScaleSNI(b *testing.B) {
	certFile, keyFile, _ := testpeers.WriteSelfSigned(b, b.TempDir(), "localhost")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"exact", "wildcard", "nosni"} {
		for _, n := range []int{1, 100, 10_000} {
			b.Run(fmt.Sprintf("%s/sites=%d", kind, n), func(b *testing.B) {
				lt := NewManager(&config.Global{}, "", zerolog.Nop()).NewListener()
				for i := range n {
					name := fmt.Sprintf("site%d.example.com", i)
					if kind == "wildcard" {
						name = "*." + name
					}
					lt.Add(name, &Policy{kind: kindFiles, cert: &cert})
				}
				ip := &Policy{kind: kindFiles, cert: &cert}
				lt.Add("127.0.0.1", ip)
				lt.Config()
				want := lt.lookup(fmt.Sprintf("site%d.example.com", n-1))
				hello := &tls.ClientHelloInfo{ServerName: fmt.Sprintf("site%d.example.com", n-1), SupportedProtos: []string{"h2", "http/1.1"}}
				switch kind {
				case "wildcard":
					hello.ServerName = fmt.Sprintf("www.site%d.example.com", n-1)
					want = lt.wildcard[len(lt.wildcard)-1].p
				case "nosni":
					hello.ServerName = ""
					want = ip
				}
				if p := lt.lookup(hello.ServerName); p != want || p == nil {
					b.Fatalf("lookup(%q) = %p; want %p", hello.ServerName, p, want)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := lt.configForClient(hello); err != nil {
						b.Fatal(err)
					}
					if c, err := lt.getCertificate(hello); err != nil || c != &cert {
						b.Fatalf("getCertificate = %p, %v", c, err)
					}
				}
			})
		}
	}
}
