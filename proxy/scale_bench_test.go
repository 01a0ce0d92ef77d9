package proxy

import (
	"fmt"
	"testing"
)

// BenchmarkScaleHostLookup is the per-request choice of a site by the Host
// header on a listener with 1, 100 and 10,000 site names: exact names, and
// wildcard names ("*.siteN.example.com", the Host naming a host under the
// last one added). One run prints the curve (bench/README.md):
//
//	go test -run XXX -bench Scale -benchtime 200ms -count 3 ./proxy/
func BenchmarkScaleHostLookup(b *testing.B) {
	for _, kind := range []string{"exact", "wildcard"} {
		for _, n := range []int{1, 100, 10_000} {
			b.Run(fmt.Sprintf("%s/sites=%d", kind, n), func(b *testing.B) {
				h := &hostRouter{}
				sites := make([]site, n)
				for i := range n {
					name := fmt.Sprintf("site%d.example.com", i)
					if kind == "wildcard" {
						name = "*." + name
					}
					h.add(name, &sites[i])
				}
				host := fmt.Sprintf("site%d.example.com:8443", n-1)
				if kind == "wildcard" {
					host = "www." + host
				}
				if s := h.lookup(host); s != &sites[n-1] {
					b.Fatalf("lookup(%q) = %p; want %p", host, s, &sites[n-1])
				}
				b.ReportAllocs()
				for b.Loop() {
					if h.lookup(host) == nil {
						b.Fatal("no site")
					}
				}
			})
		}
	}
}
