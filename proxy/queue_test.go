package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/proxy/ajp"
	"github.com/tether-proxy/tether/routing"
)

// gate is a member handler that counts the requests it holds at once
// (and the most it ever held), and holds each until released.
type gate struct {
	cur, peak atomic.Int64
	entered   chan struct{}
	release   chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 100000), release: make(chan struct{})}
}

func (g *gate) handler(w http.ResponseWriter, r *http.Request) {
	n := g.cur.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-r.Context().Done():
	}
	g.cur.Add(-1)
	io.WriteString(w, "ok\n")
}

// waitFor polls cond (a state the test brings about) until it holds.
func qwaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func qget(t *testing.T, c *http.Client, url, cookie string) (int, http.Header) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestMaxConnsQueue: with max_conns 2 on each of two members, 12
// concurrent requests never put more than 2 on a member; the others wait
// in the queue and are all served once the members answer.
func TestMaxConnsQueue(t *testing.T) {
	g1, g2 := newGate(), newGate()
	m1 := newBackend(t, "t1", g1.handler)
	m2 := newBackend(t, "t2", g2.handler)
	s, site := startProxy(t, oneBalancer("t1=http://"+m1.hostport()+" t2=http://"+m2.hostport(), "\t\tmax_conns 2\n\t\tqueue_timeout 30s"), nil)
	b := s.Balancer("app")
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 100}}
	var wg sync.WaitGroup
	codes := make([]int, 12)
	for i := range codes {
		wg.Go(func() { codes[i], _ = qget(t, c, site+"/x", "") })
	}
	qwaitFor(t, "10 requests queued", func() bool { return b.queue.waiting.Load() == 8 })
	st := s.Status().Balancers[0]
	if st.Queue == nil || st.Queue.Waiting != 8 || st.Members[0].InFlight != 2 || st.Members[0].MaxConns != 2 {
		t.Errorf("status while full: queue %+v, member %+v; want 8 waiting, 2 in flight of 2", st.Queue, st.Members[0])
	}
	close(g1.release)
	close(g2.release)
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("request %d: status %d; want 200", i, code)
		}
	}
	if p1, p2 := g1.peak.Load(), g2.peak.Load(); p1 > 2 || p2 > 2 {
		t.Errorf("most requests at once on t1, t2 = %d, %d; want at most max_conns 2", p1, p2)
	}
	if w, q := b.queue.waiting.Load(), b.queue.queued.Load(); w != 0 || q != 8 {
		t.Errorf("queue after: %d waiting, %d queued in all; want 0, 8", w, q)
	}
}

// TestQueueTimeoutAndFull: a request that waits queue_timeout is answered
// 503 with Retry-After; beyond max_queue waiting, 503 at once.
func TestQueueTimeoutAndFull(t *testing.T) {
	g := newGate()
	defer close(g.release)
	m := newBackend(t, "t1", g.handler)
	s, site := startProxy(t, oneBalancer("t1=http://"+m.hostport(), "\t\tmax_conns 1\n\t\tmax_queue 1\n\t\tqueue_timeout 300ms"), nil)
	b := s.Balancer("app")
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 100}}
	go qget(t, c, site+"/hold", "")
	<-g.entered
	var wg sync.WaitGroup
	var code int
	var h http.Header
	wg.Go(func() { code, h = qget(t, c, site+"/wait", "") })
	qwaitFor(t, "one request queued", func() bool { return b.queue.waiting.Load() == 1 })
	if code, h := qget(t, c, site+"/third", ""); code != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" {
		t.Errorf("third request (queue full) = %d, Retry-After %q; want 503, 1", code, h.Get("Retry-After"))
	}
	wg.Wait()
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" {
		t.Errorf("queued request after queue_timeout = %d, Retry-After %q; want 503, 1", code, h.Get("Retry-After"))
	}
	if _, _, timeouts, refused := b.queue.status(); timeouts != 1 || refused != 1 {
		t.Errorf("timeouts, refused = %d, %d; want 1, 1", timeouts, refused)
	}
}

// TestQueueClientGone: clients that give up while queued leave the queue
// and hold no slot; the member's count comes back to what it serves.
func TestQueueClientGone(t *testing.T) {
	g := newGate()
	m := newBackend(t, "t1", g.handler)
	s, site := startProxy(t, oneBalancer("t1=http://"+m.hostport(), "\t\tmax_conns 1\n\t\tqueue_timeout 1m"), nil)
	b := s.Balancer("app")
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 100}}
	go qget(t, c, site+"/hold", "")
	<-g.entered
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, site+"/wait", nil)
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("a cancelled request got %d", resp.StatusCode)
			}
		})
	}
	qwaitFor(t, "20 queued", func() bool { return b.queue.waiting.Load() == 20 })
	cancel()
	wg.Wait()
	qwaitFor(t, "the queue to empty", func() bool { return b.queue.waiting.Load() == 0 })
	close(g.release)
	qwaitFor(t, "the member to be idle", func() bool { return b.set.Load().members[0].load.InFlight.Load() == 0 })
	if code, _ := qget(t, c, site+"/after", ""); code != http.StatusOK {
		t.Errorf("request after = %d; want 200", code)
	}
	if g.peak.Load() != 1 {
		t.Errorf("most at once on t1 = %d; want 1", g.peak.Load())
	}
}

// TestQueueStickyWaitsForItsMember: a session's request waits for its own
// member at max_conns while new sessions go to the member with room.
func TestQueueStickyWaitsForItsMember(t *testing.T) {
	g1 := newGate()
	m1 := newBackend(t, "t1", g1.handler)
	m2 := newBackend(t, "t2", nil)
	s, site := startProxy(t, oneBalancer("t1=http://"+m1.hostport()+" t2=http://"+m2.hostport(), "\t\tmax_conns 1\n\t\tqueue_timeout 1m"), nil)
	b := s.Balancer("app")
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 100}}
	go qget(t, c, site+"/hold", "JSESSIONID=A.t1")
	<-g1.entered
	var wg sync.WaitGroup
	var code int
	var h http.Header
	wg.Go(func() { code, h = qget(t, c, site+"/mine", "JSESSIONID=B.t1") })
	qwaitFor(t, "the session's request queued", func() bool { return b.set.Load().members[0].queued.Load() == 1 })
	for range 4 {
		if code, h := qget(t, c, site+"/new", ""); code != http.StatusOK || h.Get("X-Route") != "t2" {
			t.Errorf("new session while t1 is full = %d from %q; want 200 from t2", code, h.Get("X-Route"))
		}
	}
	close(g1.release)
	wg.Wait()
	if code != http.StatusOK || h.Get("X-Route") != "t1" {
		t.Errorf("queued session request = %d from %q; want 200 from t1", code, h.Get("X-Route"))
	}
}

// TestQueueMemory: 10,000 requests waiting in one balancer's queue; the
// heap and stacks they take, per request, are printed and bounded.
func TestQueueMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests")
	}
	g := newGate()
	m := newBackend(t, "t1", g.handler)
	s, _ := startProxy(t, oneBalancer("t1=http://"+m.hostport(), "\t\tmax_conns 1\n\t\tmax_queue 10000\n\t\tqueue_timeout 5m"), io.Discard)
	b := s.Balancer("app")
	const n = 10000
	go b.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://a/hold", nil))
	<-g.entered
	// Requests as the server hands them to the balancer (no client
	// connections: those are net/http's, the same with or without a
	// queue), built before the first reading.
	ctx, cancel := context.WithCancel(t.Context())
	reqs := make([]*http.Request, n)
	recs := make([]*httptest.ResponseRecorder, n)
	for i := range reqs {
		reqs[i] = httptest.NewRequestWithContext(ctx, http.MethodGet, "http://a/q/"+strconv.Itoa(i), nil)
		recs[i] = httptest.NewRecorder()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { _ = recover() }() // ErrAbortHandler for a client gone
			b.ServeHTTP(recs[i], reqs[i])
		})
	}
	qwaitFor(t, "10,000 queued", func() bool { return b.queue.waiting.Load() == n })
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	stack := float64(int64(after.StackInuse)-int64(before.StackInuse)) / n
	t.Logf("%d requests queued: heap %.0f B per request, goroutine stacks %.0f B per request (the request's own goroutine, which net/http runs anyway)", n, heap, stack)
	if heap > 16<<10 {
		t.Errorf("heap per queued request = %.0f B; want under 16 KiB", heap)
	}
	if st := s.Status().Balancers[0].Queue; st.Waiting != n {
		t.Errorf("status queue waiting = %d; want %d", st.Waiting, n)
	}
	cancel()
	wg.Wait()
	close(g.release)
	qwaitFor(t, "queue empty and member idle", func() bool {
		return b.queue.waiting.Load() == 0 && b.set.Load().members[0].load.InFlight.Load() == 0
	})
}

// TestLimiterAllocs: taking and giving back a slot of a member with
// max_conns, with nobody waiting, allocates nothing.
func TestLimiterAllocs(t *testing.T) {
	m := newBackend(t, "t1", nil)
	s, _ := startProxy(t, oneBalancer("t1=http://"+m.hostport(), "\t\tmax_conns 10"), io.Discard)
	b := s.Balancer("app")
	st := &reqState{b: b, set: b.set.Load(), client: context.Background()}
	if n := testing.AllocsPerRun(1000, func() { pickAdmitRelease(b, st) }); n != 0 {
		t.Errorf("pick, admit and release allocate %.1f times; want 0", n)
	}
}

func pickAdmitRelease(b *Balancer, st *reqState) {
	st.req = routing.Request{}
	dec, err := st.set.table.Pick(&st.req)
	st.dec = dec
	if err := b.admit(st, err); err != nil {
		panic(err)
	}
	b.release(st.cur)
	st.cur = nil
}

// BenchmarkPickAdmit is the pick path of a request, with and without
// max_conns on the members (nobody waiting): pick, take a slot, give it
// back.
func BenchmarkPickAdmit(b *testing.B) {
	for _, extra := range []string{"", "\t\tmax_conns 100"} {
		name := "unlimited"
		if extra != "" {
			name = "max_conns"
		}
		b.Run(name, func(bb *testing.B) {
			m1, m2 := newBenchBackend(bb, "t1"), newBenchBackend(bb, "t2")
			s, _ := startProxyB(bb, oneBalancer("t1=http://"+m1+" t2=http://"+m2, extra))
			bal := s.Balancer("app")
			st := &reqState{b: bal, set: bal.set.Load(), client: context.Background()}
			bb.ReportAllocs()
			for bb.Loop() {
				pickAdmitRelease(bal, st)
			}
		})
	}
}

// TestAJPPoolHonoursMaxConns: an ajp:// member's connection pool opens at
// most the member's max_conns connections (its own, else the balancer's).
func TestAJPPoolHonoursMaxConns(t *testing.T) {
	s, _ := startProxy(t, "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy {\n\t\tname app\n\t\tbackend a ajp://127.0.0.1:1 {\n\t\t\tmax_conns 2\n\t\t}\n\t\tto b=ajp://127.0.0.1:2 c=http://127.0.0.1:3\n\t\tmax_conns 5\n\t}\n}\n", io.Discard)
	want := map[string]int{"a": 2, "b": 5}
	for _, m := range s.Balancer("app").set.Load().members {
		if m.target.Scheme != "ajp" {
			if m.maxConns != 5 {
				t.Errorf("member %s: max_conns %d; want the balancer's 5", m.name, m.maxConns)
			}
			continue
		}
		tr, ok := m.rt.(*ajp.Transport)
		if !ok {
			t.Fatalf("member %s: transport %T; want *ajp.Transport", m.name, m.rt)
		}
		if got := tr.Config().MaxConns; got != want[m.name] || int(m.maxConns) != want[m.name] {
			t.Errorf("member %s: AJP pool MaxConns %d, limit %d; want %d", m.name, got, m.maxConns, want[m.name])
		}
	}
}

// TestQueueMemberGoesDown: a session's request waiting for its full
// member picks again when that member is stopped, and fails over.
func TestQueueMemberGoesDown(t *testing.T) {
	g1 := newGate()
	defer close(g1.release)
	m1 := newBackend(t, "t1", g1.handler)
	m2 := newBackend(t, "t2", nil)
	s, site := startProxy(t, oneBalancer("t1=http://"+m1.hostport()+" t2=http://"+m2.hostport(), "\t\tmax_conns 1\n\t\tqueue_timeout 1m"), nil)
	b := s.Balancer("app")
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 100}}
	go qget(t, c, site+"/hold", "JSESSIONID=A.t1")
	<-g1.entered
	var wg sync.WaitGroup
	var code int
	var h http.Header
	wg.Go(func() { code, h = qget(t, c, site+"/mine", "JSESSIONID=B.t1") })
	qwaitFor(t, "the session's request queued", func() bool { return b.set.Load().members[0].queued.Load() == 1 })
	if err := b.SetState("t1", routing.Stopped); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if code != http.StatusOK || h.Get("X-Route") != "t2" {
		t.Errorf("queued request of t1's session after t1 stopped = %d from %q; want 200 from t2 (failover)", code, h.Get("X-Route"))
	}
	if n := len(g1.entered); n != 0 {
		t.Errorf("%d requests reached t1 after it was stopped; want none", n)
	}
	if w := b.queue.waiting.Load(); w != 0 {
		t.Errorf("queue waiting = %d; want 0", w)
	}
}
