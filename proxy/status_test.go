package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
)

func TestLatencyHistQuantiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		obs     []time.Duration
		q       float64
		lo, hi  time.Duration // the estimate must fall in [lo, hi]
		wantCnt uint64
	}{
		{name: "empty", q: 0.5, lo: 0, hi: 0},
		{name: "all in one bucket", obs: repeat(3*time.Millisecond, 100), q: 0.5, lo: 2500 * time.Microsecond, hi: 5 * time.Millisecond, wantCnt: 100},
		{name: "p99 in the slow tail", obs: append(repeat(time.Millisecond, 98), repeat(2*time.Second, 2)...), q: 0.99, lo: time.Second, hi: 2500 * time.Millisecond, wantCnt: 100},
		{name: "p50 of the fast bulk", obs: append(repeat(time.Millisecond, 98), repeat(2*time.Second, 2)...), q: 0.5, lo: 500 * time.Microsecond, hi: time.Millisecond, wantCnt: 100},
		{name: "beyond the last bound", obs: repeat(5*time.Minute, 10), q: 0.9, lo: 60 * time.Second, hi: 60 * time.Second, wantCnt: 10},
		{name: "negative counts as zero", obs: repeat(-time.Second, 4), q: 1, lo: 0, hi: 500 * time.Microsecond, wantCnt: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h latencyHist
			for _, d := range tc.obs {
				h.Observe(d)
			}
			s := h.Snapshot()
			if got := s.Quantile(tc.q); got < tc.lo || got > tc.hi {
				t.Errorf("Quantile(%v) = %v; want in [%v, %v]", tc.q, got, tc.lo, tc.hi)
			}
			if s.count != tc.wantCnt {
				t.Errorf("Snapshot().count = %d; want %d", s.count, tc.wantCnt)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestLatencyHistConcurrent(t *testing.T) {
	var h latencyHist
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = h.Snapshot().Quantile(0.99) // readers never block writers
		}
	})
	wg.Wait()
	if got := h.Snapshot().count; got != 8000 {
		t.Errorf("count after 8×1000 observations = %d; want 8000", got)
	}
}

func TestLatencyHistObserveAllocs(t *testing.T) {
	var h latencyHist
	if n := testing.AllocsPerRun(1000, func() { h.Observe(7 * time.Millisecond) }); n != 0 {
		t.Errorf("Observe allocates %v times per call; want 0", n)
	}
	m := &member{}
	if n := testing.AllocsPerRun(1000, func() { m.observe(200, time.Millisecond) }); n != 0 {
		t.Errorf("member.observe allocates %v times per call; want 0", n)
	}
}

func BenchmarkLatencyHistObserve(b *testing.B) {
	var h latencyHist
	for b.Loop() {
		h.Observe(42 * time.Millisecond)
	}
}

func TestFailoverLogRing(t *testing.T) {
	var l failoverLog
	t0 := time.Unix(1_700_000_000, 0)
	for i := range failoverLogSize + 5 {
		l.add(FailoverEvent{At: t0.Add(time.Duration(i) * time.Second), From: fmt.Sprint("m", i), To: "x", Reason: "failover"})
	}
	got := l.list()
	if len(got) != failoverLogSize {
		t.Fatalf("len(list()) = %d; want %d", len(got), failoverLogSize)
	}
	if want := fmt.Sprint("m", failoverLogSize+4); got[0].From != want {
		t.Errorf("list()[0].From = %q; want newest %q", got[0].From, want)
	}
	if want := "m5"; got[len(got)-1].From != want {
		t.Errorf("list()[last].From = %q; want oldest kept %q", got[len(got)-1].From, want)
	}
}

// adminProxy runs a server with an admin listener and one balancer over
// the given members and returns it, its site and its admin base URL.
func adminProxy(t *testing.T, globals, members string) (*Server, string, string) {
	t.Helper()
	src := fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n%s}\nhttp://127.0.0.1:0 {\n\treverse_proxy {\n\t\tname app\n\t\tto %s\n\t}\n}\n", globals, members)
	s, site := startProxy(t, src, nil)
	return s, site, "http://" + s.Addrs().Admin
}

func TestStatusPageRendersMembersAndButtons(t *testing.T) {
	ok := newBackend(t, "tomcat1", nil)
	bad := newBackend(t, "tomcat2", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	_, site, admin := adminProxy(t, "", "tomcat1=http://"+ok.hostport()+" tomcat2=http://"+bad.hostport())
	for range 4 {
		doGet(t, site+"/", nil)
	}
	resp, body := doGet(t, admin+"/", nil)
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
	var m2 MemberStatus
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
	if _, body := doGet(t, admin+"/?refresh=0", nil); strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("?refresh=0 still refreshes")
	}
}

// TestStatusPageLastSeen runs a proxy whose cluster view lost node-b
// three minutes ago: /api/status lists node-b under gone with that time,
// and the page shows a last-seen column, "now" for live members.
func TestStatusPageLastSeen(t *testing.T) {
	ok := newBackend(t, "tomcat1", nil)
	src := fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy {\n\t\tname app\n\t\tto tomcat1=http://%s\n\t}\n}\n", ok.hostport())
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	before, after := seenView(1, "node-a", "node-b", "proxy1"), seenView(2, "node-a", "proxy1")
	before.Self, after.Self = before.Members[2], after.Members[1]
	s, err := New(cfg, Options{Logger: zerolog.New(t.Output()), Cluster: &fixedView{v: after, ch: make(chan struct{})}})
	if err != nil {
		t.Fatal(err)
	}
	// The views as the discovery loop would have delivered them, before
	// Serve starts it.
	now := time.Now()
	lastB := now.Add(-3 * time.Minute)
	s.clusterSeen().Observe(before, now.Add(-5*time.Minute))
	s.clusterSeen().Observe(after, lastB)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	admin := "http://" + s.Addrs().Admin

	c := statusOf(t, admin).Cluster
	if c == nil {
		t.Fatal("/api/status has no cluster")
	}
	var live []string
	for _, m := range c.Members {
		live = append(live, m.Name+"/"+m.Status)
		if m.LastSeen.Before(now) {
			t.Errorf("live member %s last_seen = %v; want now (>= %v)", m.Name, m.LastSeen, now)
		}
	}
	if got, want := strings.Join(live, " "), "node-a/alive proxy1/alive"; got != want {
		t.Errorf("cluster members = %s; want %s", got, want)
	}
	if len(c.Gone) != 1 || c.Gone[0].Name != "node-b" || c.Gone[0].Status != "gone" || c.Gone[0].Healthy || !c.Gone[0].LastSeen.Equal(lastB) {
		t.Errorf("cluster gone = %+v; want node-b, gone, not healthy, last seen %v", c.Gone, lastB)
	}

	_, body := doGet(t, admin+"/?refresh=0", nil)
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

func TestStatusPageEscapes(t *testing.T) {
	evil := `<img src=x onerror=alert(1)>"'`
	n := 3
	d := pageData{
		Status: Status{
			Node: NodeStatus{Name: evil, Version: evil, Started: time.Now().Add(-time.Hour)},
			Cluster: &ClusterStatus{Name: evil, Self: evil, Members: []ClusterMemberStatus{
				{Name: evil, Addr: "127.0.0.1:7946", Role: "proxy", State: "active", Healthy: true, Version: evil},
			}, Gone: []ClusterMemberStatus{
				{Name: evil, Addr: "127.0.0.1:7947", Role: evil, Service: evil, URL: evil, State: "active", Version: evil, Status: "gone", LastSeen: time.Now()},
			}},
			Balancers: []BalancerStatus{{Name: evil, Members: []MemberStatus{
				{Name: evil, URL: "http://" + evil, State: evil, Reason: evil, Sessions: &n},
			}, RecentFailovers: []FailoverEvent{{At: time.Now(), From: evil, To: evil, Reason: evil}}}},
			Certificates: []CertStatus{{Names: []string{evil}, Issuer: evil, Source: "files", NotAfter: time.Now().Add(48 * time.Hour)}},
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

func statusOf(t *testing.T, admin string) Status {
	t.Helper()
	resp, err := http.Get(admin + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
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

// A member's cluster counters are its own plus what each peer reported for
// the same balancer and member; members only a peer knows are not added.
func TestAddClusterCounters(t *testing.T) {
	st := Status{Balancers: []BalancerStatus{{Name: "app", Members: []MemberStatus{
		{Name: "tomcat1", InFlight: 1, Requests: 10, Errors: 1, Responses: ResponseClasses{Success: 9, ServerError: 1}},
		{Name: "tomcat2", Requests: 4, Responses: ResponseClasses{Success: 4}},
	}}}}
	peers := []counterSnapshot{
		{"app": {"tomcat1": {InFlight: 2, Requests: 5, Responses: ResponseClasses{Success: 5}}, "tomcat9": {Requests: 100}}},
		{"app": {"tomcat1": {Requests: 1, Errors: 1, Responses: ResponseClasses{Transport: 1}}}, "other": {"x": {Requests: 7}}},
	}
	addClusterCounters(&st, peers)
	b := st.Balancers[0]
	if b.CounterProxies != 3 {
		t.Errorf("CounterProxies = %d; want 3", b.CounterProxies)
	}
	want1 := ClusterCounters{Proxies: 3, InFlight: 3, Requests: 16, Errors: 2, Responses: ResponseClasses{Success: 14, ServerError: 1, Transport: 1}}
	if got := b.Members[0].Shown(); got != want1 {
		t.Errorf("tomcat1 = %+v; want %+v", got, want1)
	}
	want2 := ClusterCounters{Proxies: 1, Requests: 4, Responses: ResponseClasses{Success: 4}}
	if got := b.Members[1].Shown(); got != want2 {
		t.Errorf("tomcat2 (no peer reports it) = %+v; want %+v", got, want2)
	}
	if len(b.Members) != 2 {
		t.Errorf("members = %d; want 2 (tomcat9 is only a peer's)", len(b.Members))
	}

	for _, peers := range [][]counterSnapshot{nil, {{"other": {"a": {Requests: 5}}}}} {
		alone := Status{Balancers: []BalancerStatus{{Name: "app", Members: []MemberStatus{{Name: "a", Requests: 3}}}}}
		addClusterCounters(&alone, peers)
		if m := alone.Balancers[0].Members[0]; m.Cluster != nil || alone.Balancers[0].CounterProxies != 0 || m.Shown().Requests != 3 {
			t.Errorf("peers %v, none serving app: %+v; want no cluster sums, this node's 3 requests shown", peers, alone.Balancers[0])
		}
	}
}
