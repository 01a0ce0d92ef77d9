package proxy

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkProxySticky measures one keep-alive sticky GET through the
// proxy to an in-process member (client, proxy and member share the CPU;
// compare runs of this benchmark, not with bench/ figures).
func BenchmarkProxySticky(b *testing.B) {
	m1 := newBenchBackend(b, "tomcat1")
	m2 := newBenchBackend(b, "tomcat2")
	_, site := startProxyB(b, oneBalancer("tomcat1=http://"+m1+" tomcat2=http://"+m2, ""))
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	req, _ := http.NewRequest(http.MethodGet, site+"/app", nil)
	req.Header.Set("Cookie", "JSESSIONID=0123456789ABCDEF.tomcat1")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Route") != "tomcat1" {
			b.Fatalf("misrouted to %q", resp.Header.Get("X-Route"))
		}
	}
}
