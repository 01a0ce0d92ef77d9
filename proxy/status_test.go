package proxy

import (
	"fmt"
	"path/filepath"
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

// TestStatusLastSeen runs a proxy whose cluster view lost node-b three
// minutes ago: Status (so /api/status and the page) lists node-b under gone
// with that time, and live members as seen now.
func TestStatusLastSeen(t *testing.T) {
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
	s.seen.Observe(before, now.Add(-5*time.Minute))
	s.seen.Observe(after, lastB)
	c := s.Status().Cluster
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
