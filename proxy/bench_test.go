package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/config"
)

// BenchmarkProxySticky measures one keep-alive sticky GET through the
// proxy to an in-process member (client, proxy and member share the CPU;
// compare runs of this benchmark, not with bench/ figures).
//
// Sub-benchmarks: "forward" is Tether's path (forward.go, proxy/h1);
// "reverse-proxy" the same request through httputil.ReverseProxy and
// proxy/h1; "net-http" through httputil.ReverseProxy and net/http's
// transport (the path before issue 18). Compare their allocs/op: the
// client and the member allocate the same in each.
func BenchmarkProxySticky(b *testing.B) {
	for _, mode := range []string{"forward", "reverse-proxy", "net-http"} {
		b.Run(mode, func(b *testing.B) {
			SetForwarder(mode == "forward")
			StdMemberClient = mode == "net-http"
			defer func() { SetForwarder(true); StdMemberClient = false }()
			m1 := newBenchBackend(b, "tomcat1")
			m2 := newBenchBackend(b, "tomcat2")
			_, site := startProxyB(b, oneBalancer("tomcat1=http://"+m1+" tomcat2=http://"+m2, ""))
			benchStickyGets(b, site)
		})
	}
}

// BenchmarkProxyH2CMember is BenchmarkProxySticky with members reached
// over cleartext HTTP/2 (h2c://): one multiplexed connection per member
// instead of a keep-alive pool.
func BenchmarkProxyH2CMember(b *testing.B) {
	m1 := newBenchH2CBackend(b, "tomcat1")
	m2 := newBenchH2CBackend(b, "tomcat2")
	_, site := startProxyB(b, oneBalancer("tomcat1=h2c://"+m1+" tomcat2=h2c://"+m2, ""))
	benchStickyGets(b, site)
}

// benchStickyGets times keep-alive GETs of tomcat1's session through the
// proxy at site, each checked to reach tomcat1.
func benchStickyGets(b *testing.B, site string) {
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

// newBenchH2CBackend is newBenchBackend serving cleartext HTTP/2 only.
func newBenchH2CBackend(b *testing.B, route string) string {
	body := []byte(strings.Repeat("x", 100))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Route", route)
		w.Write(body)
	})}
	s.Protocols = new(http.Protocols)
	s.Protocols.SetUnencryptedHTTP2(true)
	go s.Serve(ln)
	b.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// BenchmarkResilienceBookkeeping is what retry_budget and outlier
// ejection add to a request that succeeds: the budget's request count and
// the member's outlier counts. Both are atomics on fixed arrays: 0
// allocs/op.
func BenchmarkResilienceBookkeeping(b *testing.B) {
	rb := newRetryBudget(&config.RetryBudget{Percent: 20, MinPerSec: 3, Window: 10 * time.Second})
	var c outlierCounts
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		rb.request(now.UnixNano())
		c.answer(200, time.Millisecond)
	}
}

// BenchmarkProxyResilience is BenchmarkProxySticky without and with
// retry_budget and outlier ejection on the balancer, in one run: the
// allocs/op of the two must be the same.
func BenchmarkProxyResilience(b *testing.B) {
	for _, bc := range []struct{ name, extra string }{
		{"off", ""},
		{"budget+outlier", "\t\tretry_budget 20%\n\t\toutlier {\n\t\t\tlatency_factor 5\n\t\t}"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m1 := newBenchBackend(b, "tomcat1")
			m2 := newBenchBackend(b, "tomcat2")
			_, site := startProxyB(b, oneBalancer("tomcat1=http://"+m1+" tomcat2=http://"+m2, bc.extra))
			benchStickyGets(b, site)
		})
	}
}
