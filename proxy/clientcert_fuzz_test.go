package proxy

import (
	"encoding/pem"
	"testing"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// FuzzParseALBCerts: an ALB certificate header (URL-encoded PEM) from a
// trusted proxy never panics the decoder, a chain is never empty or longer
// than maxALBCerts, and what decodes re-encodes to the same certificates.
func FuzzParseALBCerts(f *testing.F) {
	dir := f.TempDir()
	ca := testpeers.NewCA(f, dir, "ca")
	leaf := ca.Issue(f, dir, "alice", 7)
	f.Add(albCert(leaf.Cert))
	f.Add(albCert(leaf.Cert, ca.Cert))
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Cert.Raw})))
	for _, s := range []string{"", "%", "%zz", "-----BEGIN%20CERTIFICATE-----%0Anope%0A-----END%20CERTIFICATE-----%0A",
		"-----BEGIN%20PRIVATE%20KEY-----%0AAAAA%0A-----END%20PRIVATE%20KEY-----%0A", albCert(leaf.Cert) + "trailing"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		certs, err := parseALBCerts(v)
		if err != nil {
			return
		}
		if len(certs) == 0 || len(certs) > maxALBCerts {
			t.Fatalf("parseALBCerts(%q) = %d certificates", v, len(certs))
		}
		again, err := parseALBCerts(albCert(certs...))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("re-encoded chain: %d certificates, %v; want %d", len(again), err, len(certs))
		}
		for i := range certs {
			if !again[i].Equal(certs[i]) {
				t.Fatalf("certificate %d changed in the round trip", i)
			}
		}
	})
}
