package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/membership"
)

// TestAgentAdvertisesHealthAndDrains joins an agent to a real gossip pool
// on loopback, beside a backend whose health check can fail: a proxy-role
// member of the pool first sees the backend healthy with its route and
// URL, then unhealthy when /health fails, then draining when the agent
// stops, and finally gone.
func TestAgentAdvertisesHealthAndDrains(t *testing.T) {
	var sick atomic.Bool
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && sick.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
		}
	}))
	defer backend.Close()

	pc := membership.DefaultConfig()
	pc.Name, pc.Cluster, pc.Bind, pc.Profile = "proxy1", "t", "127.0.0.1:0", membership.ProfileLocal
	pc.Meta = membership.Meta{Role: membership.RoleProxy, Healthy: true}
	observer, err := membership.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	octx, ostop := context.WithCancel(context.Background())
	odone := make(chan error, 1)
	go func() { odone <- observer.Run(octx) }()
	defer func() { ostop(); <-odone }()
	<-observer.Started()

	u, _ := url.Parse(backend.URL)
	a, err := Join(context.Background(), Config{
		Cluster: "t", Name: "tomcat1", Bind: "127.0.0.1:0", Seeds: []string{observer.Addr().String()},
		Profile: membership.ProfileLocal, Service: "app", Route: "tomcat1", URL: u, Weight: 2,
		HealthURI: "/health", HealthInterval: 50 * time.Millisecond, DrainDelay: 500 * time.Millisecond,
		Build: "test", Log: zerolog.New(t.Output()),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()

	seen := func() (membership.Meta, bool) {
		m, ok := observer.View().Member("tomcat1")
		return m.Meta, ok
	}
	testpeers.WaitUntil(t, 10*time.Second, "the backend seen healthy", func() bool {
		m, ok := seen()
		return ok && m.Healthy && m.State == membership.StateActive
	})
	if m, _ := seen(); m.Role != membership.RoleBackend || m.Service != "app" || m.Route != "tomcat1" || m.URL != backend.URL || m.Weight != 2 {
		t.Errorf("advertised %+v; want backend app/tomcat1 at %s, weight 2", m, backend.URL)
	}
	sick.Store(true)
	testpeers.WaitUntil(t, 10*time.Second, "the backend seen unhealthy", func() bool { m, ok := seen(); return ok && !m.Healthy })
	sick.Store(false)
	testpeers.WaitUntil(t, 10*time.Second, "the backend seen healthy again", func() bool { m, ok := seen(); return ok && m.Healthy })

	stop()
	testpeers.WaitUntil(t, 10*time.Second, "the backend seen draining", func() bool {
		m, ok := seen()
		return ok && m.State == membership.StateDraining
	})
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	testpeers.WaitUntil(t, 10*time.Second, "the backend gone", func() bool { _, ok := seen(); return !ok })
}
