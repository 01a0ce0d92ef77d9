package admin

import (
	"bytes"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// fakeSessions is a map-backed SessionStats.
type fakeSessions map[string]int

func (f fakeSessions) Pinned(balancer, route string) int { return f[balancer+"/"+route] }
func (f fakeSessions) Entries() int                      { return len(f) }
func (f fakeSessions) Lag() time.Duration                { return 250 * time.Millisecond }

func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, body := testpeers.Get(t, admin+"/metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d: %s", resp.StatusCode, body)
	}
	return body
}

func TestMetricsContent(t *testing.T) {
	ok := newBackend(t, "tomcat1", nil)
	bad := newBackend(t, "tomcat2", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	// dead refuses connections: transport errors, retries, then passive failure.
	s, site, admin := adminProxy(t, "", "tomcat1=http://"+ok.hostport()+" tomcat2=http://"+bad.hostport()+" dead=http://127.0.0.1:1")
	for range 9 {
		testpeers.Get(t, site+"/", nil)
	}
	testpeers.Get(t, site+"/", map[string]string{"Cookie": "JSESSIONID=abc.dead"}) // a failover
	if err := s.Balancer("app").SetState("tomcat2", 1); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, admin)
	for _, want := range []string{
		`tether_build_info{version=""} 1`,
		`tether_draining 0`,
		`tether_member_requests_total{balancer="app",class="2xx",member="tomcat1"}`,
		`tether_member_requests_total{balancer="app",class="4xx",member="tomcat2"}`,
		`tether_member_requests_total{balancer="app",class="error",member="dead"}`,
		`tether_member_response_seconds_bucket{balancer="app",member="tomcat1",le="0.0005"}`,
		`tether_member_response_seconds_bucket{balancer="app",member="tomcat1",le="+Inf"}`,
		`tether_member_response_seconds_count{balancer="app",member="tomcat1"}`,
		`tether_member_inflight_requests{balancer="app",member="tomcat1"} 0`,
		`tether_member_healthy{balancer="app",member="tomcat1"} 1`,
		`tether_member_state{balancer="app",member="tomcat2",state="disabled"} 1`,
		`tether_member_state{balancer="app",member="tomcat2",state="active"} 0`,
		`tether_member_retries_total{balancer="app",member="dead"}`,
		`tether_member_failures_total{balancer="app",member="dead"}`,
		`tether_balancer_failovers_total{balancer="app"} 1`,
		`tether_balancer_no_member_total{balancer="app"} 0`,
		`tether_balancer_pins_refused_total{balancer="app"} 0`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, absent := range []string{"tether_replication_entries", "tether_member_sessions_pinned"} {
		if strings.Contains(body, absent+"{") || strings.Contains(body, absent+" ") {
			t.Errorf("/metrics has %s before replication reports", absent)
		}
	}
	// The page shows the failover, with its reason and without the session.
	if _, page := testpeers.Get(t, admin+"/", nil); !strings.Contains(page, "<b>dead</b> → ") || strings.Contains(page, "abc") {
		t.Errorf("status page: the failover from dead is missing, or the session id leaked")
	}

	s.SetSessionStats(fakeSessions{"app/tomcat1": 7})
	body = scrape(t, admin)
	for _, want := range []string{
		`tether_member_sessions_pinned{balancer="app",member="tomcat1"} 7`,
		`tether_replication_entries 1`,
		`tether_replication_lag_seconds 0.25`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics with session stats lacks %s", want)
		}
	}
	if st := statusOf(t, admin); st.Sessions == nil || st.Balancers[0].Members[0].Sessions == nil || *st.Balancers[0].Members[0].Sessions != 7 {
		t.Errorf("/api/status sessions with session stats = %+v; want tomcat1 pinned 7", st.Sessions)
	}
}

// TestMetricsPromtool runs `promtool check metrics` (Debian package
// prometheus, installed by scripts/deps.sh) on a real scrape.
func TestMetricsPromtool(t *testing.T) {
	if testing.Short() {
		t.Skip("runs promtool (skipped with -short)")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian package prometheus; run scripts/deps.sh): %v", err)
	}
	ok := newBackend(t, "tomcat1", nil)
	s, site, admin := adminProxy(t, "", "tomcat1=http://"+ok.hostport())
	s.SetSessionStats(fakeSessions{"app/tomcat1": 1})
	for range 5 {
		testpeers.Get(t, site+"/", nil)
	}
	body := scrape(t, admin)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
	t.Logf("promtool check metrics: ok (%d lines scraped)%s", strings.Count(body, "\n"), out.String())
}

// TestMetricsProtect: with max_conns, /metrics has each member's limit
// and queued requests and the balancer's queue; slow start's share is 1
// for a member that is not warming.
func TestMetricsProtect(t *testing.T) {
	ok := newBackend(t, "tomcat1", nil)
	_, site, admin := adminProxy(t, "", "tomcat1=http://"+ok.hostport()+"\n\t\tmax_conns 4\n\t\tmax_queue 50\n\t\tslow_start 10s")
	testpeers.Get(t, site+"/", nil)
	body := scrape(t, admin)
	for _, want := range []string{
		`tether_member_max_conns{balancer="app",member="tomcat1"} 4`,
		`tether_member_queued_requests{balancer="app",member="tomcat1"} 0`,
		`tether_member_slow_start_share{balancer="app",member="tomcat1"} 1`,
		`tether_balancer_queue_waiting{balancer="app"} 0`,
		`tether_balancer_queued_total{balancer="app"} 0`,
		`tether_balancer_queue_timeouts_total{balancer="app"} 0`,
		`tether_balancer_queue_refused_total{balancer="app"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
