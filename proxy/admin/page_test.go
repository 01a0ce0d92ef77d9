package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/proxy"
)

func TestStatusPageRendersMembersAndButtons(t *testing.T) {
	ok := newBackend(t, "tomcat1", nil)
	bad := newBackend(t, "tomcat2", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	_, site, admin := adminProxy(t, "", "tomcat1=http://"+ok.hostport()+" tomcat2=http://"+bad.hostport())
	for range 4 {
		testpeers.Get(t, site+"/", nil)
	}
	resp, body := testpeers.Get(t, admin+"/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s; want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`data-balancer="app"`,
		`data-member="tomcat1"`, `data-member="tomcat2"`,
		`data-set="disabled"`, `data-set="stopped"`, `data-set="active"`,
		`http-equiv="refresh"`,
		"X-Tether-Admin",
		"p99 ms",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Contains(body, "http://") && strings.Contains(body, "<link") || strings.Contains(body, "src=\"http") {
		t.Errorf("status page loads an external asset")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q; want frame-ancestors 'none'", csp)
	}
	// The active member's "activate" button is disabled: it is the current state.
	if !strings.Contains(body, `data-set="active" title="take new sessions and requests" disabled`) {
		t.Errorf("the current state's button is not disabled")
	}
	// 5xx answers of tomcat2 appear in its row.
	st := statusOf(t, admin)
	var m2 proxy.MemberStatus
	for _, m := range st.Balancers[0].Members {
		if m.Name == "tomcat2" {
			m2 = m
		}
	}
	if m2.Responses.ServerError == 0 || m2.Latency.Count == 0 {
		t.Errorf("tomcat2 responses = %+v, latency = %+v; want 5xx counted and latency observed", m2.Responses, m2.Latency)
	}
	if m2.Sessions != nil {
		t.Errorf("tomcat2 sessions = %d; want nil (n/a) without replication", *m2.Sessions)
	}
	if _, body := testpeers.Get(t, admin+"/?refresh=0", nil); strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("?refresh=0 still refreshes")
	}
}

// TestStatusPageLastSeen: the page shows a last-seen column, "now" for
// live members and how long ago for one gone (the read model's dates, see
// proxy's TestStatusLastSeen).
func TestStatusPageLastSeen(t *testing.T) {
	now := time.Now()
	member := func(name, status string, last time.Time) proxy.ClusterMemberStatus {
		return proxy.ClusterMemberStatus{Name: name, Addr: "127.0.0.1:7946", Role: "proxy", State: "active", Healthy: status == "alive",
			Status: status, FirstSeen: now.Add(-5 * time.Minute), LastSeen: last}
	}
	d := pageData{Status: proxy.Status{
		Node: proxy.NodeStatus{Name: "proxy1", Started: now.Add(-time.Hour)},
		Cluster: &proxy.ClusterStatus{Name: "c", Self: "proxy1",
			Members: []proxy.ClusterMemberStatus{member("node-a", "alive", now), member("proxy1", "alive", now)},
			Gone:    []proxy.ClusterMemberStatus{member("node-b", "gone", now.Add(-3*time.Minute-time.Second))}},
	}, Now: now}
	rec := httptest.NewRecorder()
	writePage(rec, d)
	body := rec.Body.String()
	for _, want := range []string{
		"<th>Last seen</th>",
		"1 gone in the last 10 minutes",
		`<tr class="cluster-member" data-name="node-a" data-status="alive">`,
		`<tr class="cluster-gone mute" data-name="node-b" data-status="gone">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	row := func(name string) string {
		i := strings.Index(body, `data-name="`+name+`"`)
		if i < 0 {
			return ""
		}
		r := body[i:]
		return r[:strings.Index(r, "</tr>")]
	}
	if !regexp.MustCompile(`<td class="seen" title="member since [^"]+">now</td>`).MatchString(row("node-a")) {
		t.Errorf("node-a's row does not say last seen now:\n%s", row("node-a"))
	}
	if !regexp.MustCompile(`<td class="seen" title="[^"]+">3m[0-9]+s ago</td>`).MatchString(row("node-b")) {
		t.Errorf("node-b's row does not say last seen 3m ago:\n%s", row("node-b"))
	}
}

// TestPageAndMetricsShowMismatch: a config mismatch in the read model is a
// notice on the page and a gauge in /metrics, and neither once it is gone.
func TestPageAndMetricsShowMismatch(t *testing.T) {
	st := proxy.Status{Cluster: &proxy.ClusterStatus{Name: "c", Self: "p1", ConfigMismatches: []proxy.ConfigMismatch{
		{Peer: "p2", Balancer: "default-1", Differs: "members only on the peer: t3", MembersOnlyOnPeer: []string{"t3"}},
	}}}
	page := func() string {
		rec := httptest.NewRecorder()
		writePage(rec, pageData{Status: st, Now: time.Now()})
		return rec.Body.String()
	}
	scrapeOf := func() string {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector{status: func() proxy.Status { return st }})
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return rec.Body.String()
	}
	body := page()
	for _, frag := range []string{`id="config-mismatches"`, `data-peer="p2" data-balancer="default-1"`, "members only on the peer: t3"} {
		if !strings.Contains(body, frag) {
			t.Errorf("status page lacks %q", frag)
		}
	}
	const gauge = `tether_cluster_config_mismatch{balancer="default-1",peer="p2"} 1`
	if !strings.Contains(scrapeOf(), gauge) {
		t.Errorf("/metrics lacks %s", gauge)
	}
	st.Cluster.ConfigMismatches = nil
	if strings.Contains(page(), `id="config-mismatches"`) {
		t.Error("status page still shows the mismatch notice after agreement")
	}
	if strings.Contains(scrapeOf(), "tether_cluster_config_mismatch{") {
		t.Error("/metrics still has the mismatch gauge after agreement")
	}
}

func TestStatusPageEscapes(t *testing.T) {
	evil := `<img src=x onerror=alert(1)>"'`
	n := 3
	d := pageData{
		Status: proxy.Status{
			Node: proxy.NodeStatus{Name: evil, Version: evil, Started: time.Now().Add(-time.Hour)},
			Cluster: &proxy.ClusterStatus{Name: evil, Self: evil, Members: []proxy.ClusterMemberStatus{
				{Name: evil, Addr: "127.0.0.1:7946", Role: "proxy", State: "active", Healthy: true, Version: evil},
			}, Gone: []proxy.ClusterMemberStatus{
				{Name: evil, Addr: "127.0.0.1:7947", Role: evil, Service: evil, URL: evil, State: "active", Version: evil, Status: "gone", LastSeen: time.Now()},
			}},
			Balancers: []proxy.BalancerStatus{{Name: evil, Members: []proxy.MemberStatus{
				{Name: evil, URL: "http://" + evil, State: evil, Reason: evil, Sessions: &n},
			}, RecentFailovers: []proxy.FailoverEvent{{At: time.Now(), From: evil, To: evil, Reason: evil}}}},
			Certificates: []proxy.CertStatus{{Names: []string{evil}, Issuer: evil, Source: "files", NotAfter: time.Now().Add(48 * time.Hour)}},
		},
		Now: time.Now(),
	}
	rec := httptest.NewRecorder()
	writePage(rec, d)
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("writePage = %d: %s", rec.Code, body)
	}
	if strings.Contains(body, "<img") {
		t.Errorf("a hostile name reached the page unescaped:\n%s", body)
	}
	if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the escaped name is missing from the page")
	}
}

func TestStateChangeRefusesCrossSite(t *testing.T) {
	ok := newBackend(t, "tomcat1", nil)
	s, _, admin := adminProxy(t, "", "tomcat1=http://"+ok.hostport())
	host := strings.TrimPrefix(admin, "http://")
	for _, tc := range []struct {
		name     string
		hdr      map[string]string
		wantCode int
	}{
		{name: "no header (an HTML form, curl without it)", hdr: nil, wantCode: 403},
		{name: "header from another site", hdr: map[string]string{"X-Tether-Admin": "1", "Sec-Fetch-Site": "cross-site"}, wantCode: 403},
		{name: "header, foreign Origin", hdr: map[string]string{"X-Tether-Admin": "1", "Origin": "http://evil.example"}, wantCode: 403},
		{name: "header, null Origin", hdr: map[string]string{"X-Tether-Admin": "1", "Origin": "null"}, wantCode: 403},
		{name: "the page's own request", hdr: map[string]string{"X-Tether-Admin": "1", "Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, wantCode: 200},
		{name: "the CLI", hdr: map[string]string{"X-Tether-Admin": "1"}, wantCode: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Balancer("app").SetState("tomcat1", 0)
			code := putState(t, admin+"/api/balancers/app/members/tomcat1/state", `{"state":"disabled"}`, tc.hdr)
			if code != tc.wantCode {
				t.Errorf("PUT state with %v = %d; want %d", tc.hdr, code, tc.wantCode)
			}
			changed := statusOf(t, admin).Balancers[0].Members[0].State == "disabled"
			if changed != (tc.wantCode == 200) {
				t.Errorf("state changed = %v after a %d", changed, code)
			}
		})
	}
}

func TestAdminTokenBearerAndBasic(t *testing.T) {
	ok := newBackend(t, "tomcat1", nil)
	_, _, admin := adminProxy(t, "\tadmin_token s3cret\n", "tomcat1=http://"+ok.hostport())
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{name: "none", set: func(*http.Request) {}, want: 401},
		{name: "bearer", set: func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }, want: 200},
		{name: "basic (the browser)", set: func(r *http.Request) { r.SetBasicAuth("admin", "s3cret") }, want: 200},
		{name: "wrong basic", set: func(r *http.Request) { r.SetBasicAuth("admin", "nope") }, want: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, admin+"/", nil)
			tc.set(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET / (%s) = %d; want %d", tc.name, resp.StatusCode, tc.want)
			}
			if tc.want == 401 && len(resp.Header.Values("WWW-Authenticate")) < 2 {
				t.Errorf("401 offers %q; want Bearer and Basic", resp.Header.Values("WWW-Authenticate"))
			}
		})
	}
}

func putState(t *testing.T, url, body string, hdr map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func statusOf(t *testing.T, admin string) proxy.Status {
	t.Helper()
	resp, err := http.Get(admin + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st proxy.Status
	if err := jsonDecode(resp.Body, &st); err != nil {
		t.Fatalf("status: %v", err)
	}
	return st
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// The replication lag reads as what it is: nothing before the first batch,
// "< 1 ms" below the millisecond that versions carry.
func TestLagText(t *testing.T) {
	ms := func(f float64) *float64 { return &f }
	for _, c := range []struct {
		in   *float64
		want string
	}{{nil, "none received yet"}, {ms(0), "< 1 ms"}, {ms(0.7), "< 1 ms"}, {ms(1), "1.0 ms"}, {ms(6.66), "6.7 ms"}} {
		if got := LagText(c.in); got != c.want {
			t.Errorf("LagText(%v) = %q; want %q", c.in, got, c.want)
		}
	}
}

// TestHealthzAndPageWhileSyncing: a proxy still copying the session table
// answers /healthz 503 with the reason, and its page says so.
func TestHealthzAndPageWhileSyncing(t *testing.T) {
	d := pageData{Status: proxy.Status{Sessions: &proxy.SessionsStatus{Sync: &proxy.SyncStatus{Peers: 1}}}, Now: time.Now()}
	rec := httptest.NewRecorder()
	writePage(rec, d)
	if page := rec.Body.String(); !strings.Contains(page, "copying the table from its peers") || !strings.Contains(page, "0 of 1 peers connected") {
		t.Error("the status page does not say the table is still being copied")
	}
	ok := newBackend(t, "tomcat1", nil)
	_, _, admin := adminProxy(t, "", "tomcat1=http://"+ok.hostport())
	if resp, body := testpeers.Get(t, admin+"/healthz", nil); resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz of a serving proxy = %d %q; want 200 ok", resp.StatusCode, body)
	}
}

// TestStatusPageSaysWhoseCounters: a balancer's failovers are this
// proxy's; its member table sums the cluster's counters when peers report.
func TestStatusPageSaysWhoseCounters(t *testing.T) {
	st := proxy.Status{Balancers: []proxy.BalancerStatus{
		{Name: "app", Failovers: 2, CounterProxies: 3, Members: []proxy.MemberStatus{{Name: "tomcat1", Requests: 1, Cluster: &proxy.ClusterCounters{Proxies: 3, Requests: 9}}}},
		{Name: "solo", Members: []proxy.MemberStatus{{Name: "tomcat9", Requests: 4}}},
	}}
	rec := httptest.NewRecorder()
	writePage(rec, pageData{Status: st, Now: time.Now()})
	page := rec.Body.String()
	for _, want := range []string{
		`this proxy: failovers 2 · retries 0 · no member 0</span> · <span class="counters" title="each proxy of the cluster sends its member counters to the others">member counters summed over 3 proxies`,
		`this proxy: failovers 0 · retries 0 · no member 0</span> · <span class="counters">member counters this proxy's`,
		`title="this node: 1">9</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// TestStatusPageShowsLimitsAndWarming: a member at max_conns shows its
// in-flight count against its limit and the requests queued for it, the
// balancer its queue, and a member warming up after coming back says so.
func TestStatusPageShowsLimitsAndWarming(t *testing.T) {
	d := pageData{
		Status: proxy.Status{
			Node: proxy.NodeStatus{Version: "test", Started: time.Now().Add(-time.Hour)},
			Balancers: []proxy.BalancerStatus{{Name: "app",
				Queue: &proxy.QueueStatus{Waiting: 7, Max: 1000, Timeout: 10, Queued: 42, Timeouts: 2, Refused: 1},
				Members: []proxy.MemberStatus{
					{Name: "tomcat1", URL: "ajp://127.0.0.1:8009", State: "active", Healthy: true, InFlight: 3, MaxConns: 3, Queued: 2},
					{Name: "tomcat2", URL: "ajp://127.0.0.1:8010", State: "active", Healthy: true, Warming: 40},
				}}},
		},
		Now: time.Now(),
	}
	rec := httptest.NewRecorder()
	writePage(rec, d)
	body := rec.Body.String()
	for _, want := range []string{
		`3<span class="mute" title="max_conns">/3</span>`,
		`+2 queued`,
		`queue 7 waiting of 1000 · 42 queued · 2 timed out · 1 refused`,
		`warming 40%`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Count(body, "warming ") != 1 {
		t.Errorf("status page says warming %d times; want once (tomcat2 only)", strings.Count(body, "warming "))
	}
}
