package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestResilienceMetrics: a member answering only 500s is ejected, and a
// dead member's retries are refused by a zero retry budget; /metrics,
// /api/status and the status page say so.
func TestResilienceMetrics(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	ok := newBackend(t, "ok", nil)
	s, site, admin := adminProxy(t, "", "bad=http://"+bad.hostport()+" ok=http://"+ok.hostport()+" dead=http://127.0.0.1:1\n"+
		"\t\tmax_fails 1000\n\t\tretry_budget 0% min 0\n\t\toutlier {\n\t\t\tinterval 100ms\n\t\t\tmin_requests 3\n\t\t\tbase_ejection_time 1h\n\t\t\tmax_ejection 100%\n\t\t}")
	testpeers.WaitUntil(t, 10*time.Second, "bad and dead ejected", func() bool {
		testpeers.Get(t, site+"/", nil)
		return s.Status().Balancers[0].Ejections == 2
	})
	body := scrape(t, admin)
	for _, want := range []string{
		`tether_member_ejections_total{balancer="app",member="bad"} 1`,
		`tether_member_ejected{balancer="app",member="bad"} 1`,
		`tether_member_ejections_total{balancer="app",member="dead"} 1`,
		`tether_member_ejected{balancer="app",member="ok"} 0`,
		`tether_balancer_retries_refused_total{balancer="app"} `,
		`tether_balancer_retry_budget_allowed{balancer="app"} 0`,
		`tether_balancer_outliers_kept_total{balancer="app"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `tether_balancer_retries_refused_total{balancer="app"} 0`) {
		t.Errorf("no retry refused; the dead member's should be")
	}
	_, raw := testpeers.Get(t, admin+"/api/status", nil)
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	js := buf.String()
	for _, want := range []string{`"ejections":2`, `"ejected_until":`, `"reason":"ejected: error ratio 100%`, `"retry_budget":{"percent":0,"window":"10s"`} {
		if !strings.Contains(js, want) {
			t.Errorf("/api/status lacks %s", want)
		}
	}
	_, page := testpeers.Get(t, admin+"/", nil)
	for _, want := range []string{"retries refused", "ejections 2", "ejected: error ratio 100%", `class="mute ejected">until`} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}
