package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestHealthPort: with Caddy's health_port, active checks go to that port
// of the member's host, not to the member's own: the member's own /health
// fails all along, and it is the health port's answers that keep it in
// rotation and then take it out.
func TestHealthPort(t *testing.T) {
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	var sick atomic.Bool
	var probes atomic.Int64
	health := newBackend(t, "health", func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		if sick.Load() || r.URL.Path != "/health" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	port := health.hostport()[strings.LastIndexByte(health.hostport(), ':')+1:]
	s, site := startProxy(t, oneBalancer("app=http://"+app.hostport(),
		"\t\thealth_uri /health\n\t\thealth_port "+port+"\n\t\thealth_interval 50ms\n\t\thealth_fails 2"), nil)
	testpeers.WaitUntil(t, 5*time.Second, "probes on the health port", func() bool { return probes.Load() >= 4 })
	if m := s.Status().Balancers[0].Members[0]; !m.Healthy {
		t.Fatalf("app is down (%s) although its health port answers 200", m.Reason)
	}
	if resp, body := testpeers.Get(t, site+"/", nil); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("GET / = %d %q; want the app's answer", resp.StatusCode, body)
	}
	sick.Store(true)
	testpeers.WaitUntil(t, 5*time.Second, "app marked down by its health port", func() bool { return !s.Status().Balancers[0].Members[0].Healthy })
}
