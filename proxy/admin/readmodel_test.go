package admin

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// sample is one line of a Prometheus text scrape.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseScrape(t *testing.T, body string) []sample {
	t.Helper()
	var out []sample
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("scrape line %q does not parse", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("scrape line %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out
}

// TestMetricsAndStatusAgree sends traffic of every kind a member can see
// (2xx, 4xx, 5xx, refused connections and their retries, a failover) and
// then reads /api/status and /metrics: both are built from one read of the
// server's state, so every counter they share is the same, member by
// member.
func TestMetricsAndStatusAgree(t *testing.T) {
	ok := newBackend(t, "tomcat1", nil)
	missing := newBackend(t, "tomcat2", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	broken := newBackend(t, "tomcat3", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	_, site, admin := adminProxy(t, "", "tomcat1=http://"+ok.hostport()+" tomcat2=http://"+missing.hostport()+
		" tomcat3=http://"+broken.hostport()+" dead=http://127.0.0.1:1")
	const sent = 40
	for i := range sent {
		hdr := map[string]string(nil)
		if i%10 == 0 {
			hdr = map[string]string{"Cookie": "JSESSIONID=s" + strconv.Itoa(i) + ".dead"} // fails over
		}
		testpeers.Get(t, site+"/", hdr)
	}

	st := statusOf(t, admin)
	_, body := testpeers.Get(t, admin+"/metrics", nil)
	samples := parseScrape(t, body)
	metric := func(name string, labels ...string) (float64, bool) {
		for _, s := range samples {
			if s.name != name {
				continue
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				if s.labels[labels[i]] != labels[i+1] {
					match = false
				}
			}
			if match {
				return s.value, true
			}
		}
		return 0, false
	}
	same := func(what string, fromStatus uint64, name string, labels ...string) {
		t.Helper()
		got, found := metric(name, labels...)
		if !found {
			t.Errorf("%s: /metrics has no %s%v", what, name, labels)
			return
		}
		if got != float64(fromStatus) {
			t.Errorf("%s: /api/status says %d, /metrics %s%v says %v", what, fromStatus, name, labels, got)
		}
	}
	b := st.Balancers[0]
	same("app failovers", b.Failovers, "tether_balancer_failovers_total", "balancer", "app")
	same("app no member", b.NoMember, "tether_balancer_no_member_total", "balancer", "app")
	same("app pins refused", b.PinsRefused, "tether_balancer_pins_refused_total", "balancer", "app")
	var answered, classes uint64
	for _, m := range b.Members {
		l := []string{"balancer", "app", "member", m.Name}
		r := m.Responses
		for class, n := range map[string]uint64{"error": r.Transport, "1xx": r.Informational, "2xx": r.Success, "3xx": r.Redirect, "4xx": r.ClientError, "5xx": r.ServerError} {
			same(m.Name+" "+class, n, "tether_member_requests_total", append(l, "class", class)...)
			classes += n
		}
		same(m.Name+" failures", m.Errors, "tether_member_failures_total", l...)
		same(m.Name+" retries", m.Retried, "tether_member_retries_total", l...)
		same(m.Name+" in flight", uint64(m.InFlight), "tether_member_inflight_requests", l...)
		same(m.Name+" answers timed", m.Latency.Count, "tether_member_response_seconds_count", l...)
		healthy := uint64(0)
		if m.Healthy {
			healthy = 1
		}
		same(m.Name+" healthy", healthy, "tether_member_healthy", l...)
		same(m.Name+" state", 1, "tether_member_state", append(l, "state", m.State)...)
		answered += r.Informational + r.Success + r.Redirect + r.ClientError + r.ServerError
	}
	// The traffic reached the counters: every request was answered by some
	// member, and each kind of outcome happened.
	if answered != sent {
		t.Errorf("members answered %d requests; want %d", answered, sent)
	}
	if b.Failovers == 0 || classes == answered {
		t.Errorf("failovers %d, transport errors %d; want both above 0 (the traffic was to include them)", b.Failovers, classes-answered)
	}
	var parts []string
	for _, m := range b.Members {
		parts = append(parts, fmt.Sprintf("%s %+v", m.Name, m.Responses))
	}
	t.Logf("%d requests, %d failovers, counters equal in both: %s", sent, b.Failovers, strings.Join(parts, "; "))
}
