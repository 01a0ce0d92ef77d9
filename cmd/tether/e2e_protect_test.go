package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// Protecting the members (issue 15) on real Tomcat 10: three nodes with
// few threads (scripts/tomcat.sh TOMCAT_NODES=3, TOMCAT_MAX_THREADS),
// started once per test binary like the pair, and restarted by a test that
// kills one.

// trioMaxThreads is the nodes' maxThreads: small, as a sized production
// connector is, and above the max_conns the tests set, so that what holds
// the count down is Tether.
const trioMaxThreads = 8

var tomcatTrio struct {
	once sync.Once
	p    *testpeers.TomcatPair
	err  error
}

// needTrio returns the three nodes running, starting them on first use and
// restarting any a previous test left down.
func needTrio(t *testing.T) map[string]testpeers.TomcatNode {
	t.Helper()
	needBinaries(t)
	tomcatTrio.once.Do(func() {
		tomcatTrio.p, tomcatTrio.err = testpeers.NewTomcatPair(testpeers.TomcatOptions{
			Secret: tomcatSecret, DirPrefix: "tether-e2e-trio-", Watchdog: true, Log: os.Stderr,
			Nodes: 3, MaxThreads: trioMaxThreads,
		})
	})
	if tomcatTrio.err != nil {
		t.Fatalf("Tomcat test nodes: %v", tomcatTrio.err)
	}
	if err := tomcatTrio.p.Start(); err != nil {
		t.Fatalf("Tomcat test nodes: %v", err)
	}
	return tomcatTrio.p.Nodes()
}

// trioConfig is a Caddyfile with one balancer "lab" of the three nodes
// over AJP, with extra options.
func trioConfig(nodes map[string]testpeers.TomcatNode, extra string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:0
	log {
		level warn
	}
}

http://127.0.0.1:0 {
	reverse_proxy {
		name lab
		to tomcat1=ajp://%s tomcat2=ajp://%s tomcat3=ajp://%s
		ajp_secret %q
		response_header_timeout 30s
%s
	}
}
`, nodes["tomcat1"].AJP, nodes["tomcat2"].AJP, nodes["tomcat3"].AJP, tomcatSecret, extra)
}

// labAnswer is one answer of a lab JSP, read without failing the test (for
// load goroutines).
type labAnswer struct {
	status     int
	kv         map[string]string
	retryAfter string
	cookie     string // JSESSIONID from Set-Cookie
	err        error
}

var loadClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 60 * time.Second}

func labFetch(ctx context.Context, url, cookie string) labAnswer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return labAnswer{err: err}
	}
	if cookie != "" {
		req.Header.Set("Cookie", "JSESSIONID="+cookie)
	}
	resp, err := loadClient.Do(req)
	if err != nil {
		return labAnswer{err: err}
	}
	defer resp.Body.Close()
	a := labAnswer{status: resp.StatusCode, kv: map[string]string{}, retryAfter: resp.Header.Get("Retry-After")}
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			a.cookie = c.Value
		}
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<10))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			a.kv[k] = v
		}
	}
	return a
}

// protectStatus is the part of /api/status these tests read.
type protectStatus struct {
	Balancers []struct {
		Name  string
		Queue *struct {
			Waiting                   int64
			Queued, Timeouts, Refused uint64
		}
		Members []struct {
			Name     string
			Healthy  bool
			Retried  uint64
			InFlight int64 `json:"inflight"`
			MaxConns int64 `json:"max_conns"`
			Queued   int64
			Warming  int
		}
	}
}

func readProtectStatus(t *testing.T, admin string) protectStatus {
	t.Helper()
	st, err := fetchProtectStatus(admin)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func fetchProtectStatus(admin string) (protectStatus, error) {
	var st protectStatus
	resp, err := client.Get("http://" + admin + "/api/status")
	if err != nil {
		return st, fmt.Errorf("GET /api/status: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("/api/status: %w", err)
	}
	if len(st.Balancers) == 0 {
		return st, fmt.Errorf("/api/status: no balancers")
	}
	return st, nil
}

// nodePeak reads the most requests busy.jsp held at once on a node since
// the last reset, asking the node directly (HTTP connector), and resets it
// when reset is set.
func nodePeak(t *testing.T, node testpeers.TomcatNode, reset bool) int {
	t.Helper()
	q := "peak=1"
	if reset {
		q = "reset=1"
	}
	a := labFetch(t.Context(), "http://"+node.HTTP+"/lab/busy.jsp?"+q, "")
	if a.err != nil || a.status != 200 {
		t.Fatalf("busy.jsp on %s: %d %v", node.Route, a.status, a.err)
	}
	var n int
	fmt.Sscan(a.kv["peak"], &n)
	return n
}

// TestTomcatFailoverStorm: three Tomcat nodes, a slow JSP and bounded
// load (24 clients for 9 s); one node is killed with SIGKILL at 3 s. With
// max_conns 3, no surviving node ever holds more than 3 of Tether's
// requests (counted by the JSP itself), requests beyond that wait in the
// queue and are served or answered 503 with Retry-After after
// queue_timeout, and the GETs that were in flight on the killed node or
// waiting do not fail.
func TestTomcatFailoverStorm(t *testing.T) {
	nodes := needTrio(t)
	t.Cleanup(func() {
		if err := tomcatTrio.p.Start(); err != nil { // the next test wants three
			t.Errorf("restarting tomcat3: %v", err)
		}
	})
	const maxConns = 3
	p, ready := startTether(t, trioConfig(nodes, fmt.Sprintf("\t\tmax_conns %d\n\t\tqueue_timeout 20s\n\t\tmax_queue 100\n\t\tretries 2\n\t\tretry_budget 20%%", maxConns)))
	base := "http://" + p.addr
	for _, n := range nodes {
		nodePeak(t, n, true)
	}
	// Warm the JSP up on every node (first compile), outside the count.
	for range 6 {
		if a := labFetch(t.Context(), base+"/lab/busy.jsp?ms=1", ""); a.status != 200 {
			t.Fatalf("warm-up: %d %v", a.status, a.err)
		}
	}
	for _, n := range nodes {
		nodePeak(t, n, true)
	}

	const clients, loadFor, killAt = 24, 9 * time.Second, 3 * time.Second
	type result struct {
		at         time.Duration
		node       string
		status     int
		retryAfter string
		err        error
	}
	var mu sync.Mutex
	var results []result
	var peakQueue int64
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), loadFor+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Since(start) < loadFor {
				a := labFetch(ctx, base+"/lab/busy.jsp?ms=150", "")
				mu.Lock()
				results = append(results, result{at: time.Since(start), node: a.kv["node"], status: a.status, retryAfter: a.retryAfter, err: a.err})
				mu.Unlock()
			}
		})
	}
	// Watch the queue while the load runs (the status page's figures).
	wg.Go(func() {
		for time.Since(start) < loadFor {
			st, err := fetchProtectStatus(ready.Admin)
			if err != nil {
				continue
			}
			if q := st.Balancers[0].Queue; q != nil && q.Waiting > peakQueue {
				mu.Lock()
				peakQueue = q.Waiting
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	time.Sleep(killAt)
	if err := tomcatTrio.p.Kill(t.Context(), "tomcat3"); err != nil {
		t.Fatal(err)
	}
	killed := time.Since(start)
	t.Logf("tomcat3 killed with SIGKILL at %v", killed.Round(time.Millisecond))
	wg.Wait()

	peaks := map[string]int{}
	for _, r := range []string{"tomcat1", "tomcat2"} {
		peaks[r] = nodePeak(t, nodes[r], false)
	}
	st := readProtectStatus(t, ready.Admin)
	q := st.Balancers[0].Queue

	statuses := map[int]int{}
	var before, after map[string]int = map[string]int{}, map[string]int{}
	errs := 0
	for _, r := range results {
		if r.err != nil {
			errs++
			t.Errorf("request at %v: %v", r.at.Round(time.Millisecond), r.err)
			continue
		}
		statuses[r.status]++
		switch {
		case r.status == http.StatusServiceUnavailable && r.retryAfter == "":
			t.Errorf("503 at %v without Retry-After", r.at.Round(time.Millisecond))
		case r.status != http.StatusOK && r.status != http.StatusServiceUnavailable:
			t.Errorf("request at %v: status %d; want 200 (or 503 after queue_timeout)", r.at.Round(time.Millisecond), r.status)
		}
		if r.status == http.StatusOK && r.at < loadFor {
			if r.at < killed {
				before[r.node]++
			} else {
				after[r.node]++
			}
		}
	}
	rate := func(m map[string]int, route string, d time.Duration) float64 { return float64(m[route]) / d.Seconds() }
	t.Logf("%d requests from %d clients in %v: statuses %v, transport errors %d", len(results), clients, loadFor, statuses, errs)
	t.Logf("queue: peak %d waiting, %d queued in all, %d timed out (queue_timeout 20s), %d refused (max_queue 100)", peakQueue, q.Queued, q.Timeouts, q.Refused)
	for _, r := range []string{"tomcat1", "tomcat2", "tomcat3"} {
		t.Logf("%s: %.1f req/s before the kill, %.1f after", r, rate(before, r, killed), rate(after, r, loadFor-killed))
	}
	survBefore := rate(before, "tomcat1", killed) + rate(before, "tomcat2", killed)
	survAfter := rate(after, "tomcat1", loadFor-killed) + rate(after, "tomcat2", loadFor-killed)
	t.Logf("survivors together: %.1f req/s before the kill, %.1f after (%.2f×; retry_budget 20%% allows at most 1.20× plus its floor of 3 retries a second)", survBefore, survAfter, survAfter/survBefore)
	if survAfter > 1.2*survBefore+3 {
		t.Errorf("the survivors took %.1f req/s after the kill against %.1f before: more than the retry budget allows", survAfter, survBefore)
	}
	t.Logf("most requests held at once, measured by busy.jsp: tomcat1 %d, tomcat2 %d (max_conns %d, maxThreads %d)", peaks["tomcat1"], peaks["tomcat2"], maxConns, trioMaxThreads)
	var retried uint64
	for _, m := range st.Balancers[0].Members {
		if m.Name == "tomcat3" {
			retried = m.Retried
		}
	}
	t.Logf("requests that failed on tomcat3 (in flight when it died, or sent before Tether saw it down) and were retried on a survivor: %d", retried)
	if retried == 0 {
		t.Errorf("no request was retried away from tomcat3; the ones in flight when it died should have been")
	}
	for r, n := range peaks {
		if n > maxConns {
			t.Errorf("%s held %d requests at once; want at most max_conns %d", r, n, maxConns)
		}
		if n < maxConns {
			t.Errorf("%s held at most %d requests at once; the load should have filled its %d", r, n, maxConns)
		}
	}
	if q.Queued == 0 || peakQueue == 0 {
		t.Errorf("no request waited in the queue (queued %d, peak %d); the load should have queued some", q.Queued, peakQueue)
	}
	if got := uint64(statuses[http.StatusServiceUnavailable]); got != q.Timeouts+q.Refused {
		t.Errorf("%d answers 503; the queue counted %d timeouts and %d refusals", got, q.Timeouts, q.Refused)
	}
	if statuses[http.StatusServiceUnavailable] > 0 {
		t.Errorf("%d requests answered 503: with queue_timeout 20s every waiting GET should have been served", statuses[http.StatusServiceUnavailable])
	}

	// A short queue_timeout on the two survivors: 12 requests of 3 s at
	// once with max_conns 1; one per node is served, the rest wait 500 ms
	// and are answered 503 with Retry-After.
	p2, ready2 := startTether(t, trioConfig(nodes, "\t\tmax_conns 1\n\t\tqueue_timeout 500ms\n\t\tretries 2"))
	for _, r := range []string{"tomcat1", "tomcat2"} {
		nodePeak(t, nodes[r], true)
	}
	short := map[string]int{}
	var shortMu sync.Mutex
	var wg2 sync.WaitGroup
	for range 12 {
		wg2.Go(func() {
			a := labFetch(ctx, "http://"+p2.addr+"/lab/busy.jsp?ms=3000", "")
			shortMu.Lock()
			defer shortMu.Unlock()
			switch {
			case a.err != nil:
				short["error"]++
			case a.status == http.StatusServiceUnavailable && a.retryAfter == "1":
				short["503 Retry-After: 1"]++
			default:
				short[fmt.Sprintf("%d %s Retry-After %q", a.status, a.kv["node"], a.retryAfter)]++
			}
		})
	}
	wg2.Wait()
	q2 := readProtectStatus(t, ready2.Admin).Balancers[0].Queue
	p1, p2peak := nodePeak(t, nodes["tomcat1"], false), nodePeak(t, nodes["tomcat2"], false)
	t.Logf("queue_timeout 500ms, max_conns 1, 12 requests of 3 s: %v; queue: %d timed out, %d refused; most held at once: tomcat1 %d, tomcat2 %d", short, q2.Timeouts, q2.Refused, p1, p2peak)
	served := short["200 tomcat1 Retry-After \"\""] + short["200 tomcat2 Retry-After \"\""]
	if timedOut := short["503 Retry-After: 1"]; served+timedOut != 12 || timedOut == 0 || uint64(timedOut) != q2.Timeouts+q2.Refused {
		t.Errorf("answers %v: want only 200s and 503s with Retry-After 1, the 503s counted by the queue (%d timeouts, %d refused)", short, q2.Timeouts, q2.Refused)
	}
	if p1 > 1 || p2peak > 1 {
		t.Errorf("most held at once with max_conns 1: tomcat1 %d, tomcat2 %d; want at most 1", p1, p2peak)
	}
}

// TestTomcatSlowStart: a node killed and restarted under load gets new
// sessions in a ramp over slow_start (its share per second is printed),
// while a session of its own reaches it at once.
func TestTomcatSlowStart(t *testing.T) {
	nodes := needTrio(t)
	t.Cleanup(func() {
		if err := tomcatTrio.p.Start(); err != nil {
			t.Errorf("restarting tomcat3: %v", err)
		}
	})
	const slowStart = 8 * time.Second
	p, ready := startTether(t, trioConfig(nodes, "\t\tajp_ping on\n\t\thealth_interval 200ms\n\t\thealth_timeout 1s\n\t\trecover_time 1s\n\t\tslow_start 8s"))
	base := "http://" + p.addr

	// A session of tomcat3's, made before it goes down.
	var mine string
	for range 30 {
		a := labFetch(t.Context(), base+"/lab/session.jsp", "")
		if a.status == 200 && a.kv["node"] == "tomcat3" {
			mine = a.cookie
			break
		}
	}
	if !strings.HasSuffix(mine, ".tomcat3") {
		t.Fatalf("no session landed on tomcat3 in 30 tries (last cookie %q)", mine)
	}

	type newSession struct {
		at   time.Time
		node string
	}
	var mu sync.Mutex
	var sessions []newSession
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	deadline := time.Now().Add(90 * time.Second) // bound, whatever happens
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				a := labFetch(ctx, base+"/lab/session.jsp", "")
				if a.status == 200 && a.kv["new"] == "true" {
					mu.Lock()
					sessions = append(sessions, newSession{at: time.Now(), node: a.kv["node"]})
					mu.Unlock()
				}
			}
		})
	}
	defer wg.Wait()
	defer cancel()

	member3 := func() (healthy bool, warming int) {
		for _, m := range readProtectStatus(t, ready.Admin).Balancers[0].Members {
			if m.Name == "tomcat3" {
				return m.Healthy, m.Warming
			}
		}
		t.Fatal("no member tomcat3 in /api/status")
		return false, 0
	}
	time.Sleep(time.Second)
	if err := tomcatTrio.p.Kill(t.Context(), "tomcat3"); err != nil {
		t.Fatal(err)
	}
	for h, _ := member3(); h; h, _ = member3() {
		time.Sleep(50 * time.Millisecond)
	}
	t.Log("tomcat3 killed; Tether has it down")
	// Restart it, and watch meanwhile for Tether to take it back (its
	// active check passes before the script sees the node ready).
	restarted := make(chan error, 1)
	go func() { restarted <- tomcatTrio.p.Start() }()
	var up time.Time
	var warming int
	for end := time.Now().Add(90 * time.Second); ; {
		h, w := member3()
		if h {
			up, warming = time.Now(), w
			break
		}
		if time.Now().After(end) {
			t.Fatal("Tether did not see tomcat3 back within 90 s of its restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a := labFetch(t.Context(), base+"/lab/session.jsp", mine)
	t.Logf("tomcat3 back in Tether (status: warming %d%%); its session's next request: status %d, node %s", warming, a.status, a.kv["node"])
	if a.status != 200 || a.kv["node"] != "tomcat3" {
		t.Errorf("the session of tomcat3 right after it came back: status %d on %q; want 200 on tomcat3 at once", a.status, a.kv["node"])
	}
	if warming == 0 {
		t.Errorf("/api/status shows tomcat3 not warming right after it came back; want warming below 100%%")
	}
	time.Sleep(slowStart + 2*time.Second)
	cancel()
	wg.Wait()
	if err := <-restarted; err != nil {
		t.Fatalf("restarting tomcat3: %v", err)
	}

	// New sessions per second after tomcat3 came back, and its share.
	secs := int((slowStart + 2*time.Second) / time.Second)
	total, on3 := make([]int, secs), make([]int, secs)
	for _, s := range sessions {
		if s.at.Before(up) {
			continue
		}
		i := int(s.at.Sub(up) / time.Second)
		if i >= secs {
			continue
		}
		total[i]++
		if s.node == "tomcat3" {
			on3[i]++
		}
	}
	share := func(from, to int) float64 {
		var n, k int
		for i := from; i < to; i++ {
			n += total[i]
			k += on3[i]
		}
		if n == 0 {
			return 0
		}
		return float64(k) / float64(n)
	}
	for i := range secs {
		t.Logf("second %2d after tomcat3 came back: %3d new sessions, %3d on tomcat3 (%.0f%%)", i+1, total[i], on3[i], 100*share(i, i+1))
	}
	early, late := share(0, 2), share(secs-2, secs)
	t.Logf("tomcat3's share of new sessions: first 2 s %.1f%%, last 2 s %.1f%% (slow_start %v; full share 33%%)", 100*early, 100*late, slowStart)
	if late < 0.15 {
		t.Errorf("tomcat3's share after slow_start = %.1f%%; want near a third", 100*late)
	}
	if early >= 0.6*late {
		t.Errorf("tomcat3's share in its first 2 s back = %.1f%%, after slow_start %.1f%%; want the first clearly below", 100*early, 100*late)
	}
}
