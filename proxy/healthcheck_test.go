package proxy

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestRicherActiveChecks: Caddy's health_body, health_headers (Host
// included), health_method and a health_status with several statuses. The
// member's check answers with what the probe carried; each case flips what
// the member answers and watches the member go out and come back, as a
// user would see on the status page.
func TestRicherActiveChecks(t *testing.T) {
	type probe struct {
		method, host, foo string
	}
	var mu sync.Mutex
	var last probe
	var status, probes atomic.Int64
	var body atomic.Value
	status.Store(200)
	body.Store("status: UP\n")
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			fmt.Fprintln(w, "ok")
			return
		}
		probes.Add(1)
		mu.Lock()
		last = probe{method: r.Method, host: r.Host, foo: r.Header.Get("X-Foo")}
		mu.Unlock()
		w.WriteHeader(int(status.Load()))
		fmt.Fprint(w, body.Load().(string))
	})
	s, _ := startProxy(t, oneBalancer("app=http://"+app.hostport(),
		"\t\thealth_uri /health\n\t\thealth_interval 50ms\n\t\thealth_fails 1\n\t\thealth_method POST\n"+
			"\t\thealth_status 2xx 401\n\t\thealth_body \"^status: (UP|DEGRADED)\"\n"+
			"\t\thealth_headers {\n\t\t\tHost health.example.com\n\t\t\tX-Foo bar\n\t\t}"), nil)
	healthyNow := func() (bool, string) {
		m := s.Status().Balancers[0].Members[0]
		return m.Healthy, m.Reason
	}
	waitHealth := func(want bool, what string) {
		t.Helper()
		testpeers.WaitUntil(t, 5*time.Second, what, func() bool { h, _ := healthyNow(); return h == want })
	}
	testpeers.WaitUntil(t, 5*time.Second, "a first check", func() bool { return probes.Load() >= 1 })
	waitHealth(true, "first checks pass")
	mu.Lock()
	got := last
	mu.Unlock()
	if want := (probe{method: "POST", host: "health.example.com", foo: "bar"}); got != want {
		t.Errorf("the check the member saw = %+v; want %+v (health_method, health_headers with Host)", got, want)
	}

	body.Store("status: DOWN\n")
	waitHealth(false, "a body that does not match health_body takes the member out")
	if _, why := healthyNow(); why != "health body does not match" {
		t.Errorf("reason %q; want the body's", why)
	}
	body.Store("status: DEGRADED\n")
	waitHealth(true, "a matching body brings it back")

	status.Store(401)
	n := probes.Load()
	testpeers.WaitUntil(t, 5*time.Second, "four checks answered 401", func() bool { return probes.Load() >= n+4 })
	if h, why := healthyNow(); !h {
		t.Errorf("health_status 2xx 401: a 401 took the member out (%s)", why)
	}
	status.Store(403)
	waitHealth(false, "a status health_status does not list takes it out")
	if _, why := healthyNow(); why != "health status 403" {
		t.Errorf("reason %q; want health status 403", why)
	}
}
