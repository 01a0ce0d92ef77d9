package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// load sends GETs to url from workers goroutines until ctx ends or n
// requests were sent (n 0: no limit), and returns the answers by status.
func load(ctx context.Context, url string, workers, n int) map[int]int {
	var mu sync.Mutex
	got := map[int]int{}
	var sent atomic.Int64
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && (n == 0 || sent.Add(1) <= int64(n)) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := c.Do(req)
				code := 0
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				got[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

// memberOf returns the named member's status in the first balancer.
func memberOf(s *Server, name string) MemberStatus {
	for _, m := range s.Status().Balancers[0].Members {
		if m.Name == name {
			return m
		}
	}
	return MemberStatus{}
}

// TestOutlierEjection: a member that answers half its requests with 500
// (which passive health does not count: no fail_on_status) is ejected by
// its error ratio, comes back when its back-off is up, and is ejected again
// for twice as long; its healthy peers stay in. The ejection is in the
// failover log with its reason.
func TestOutlierEjection(t *testing.T) {
	var n atomic.Int64
	flaky := newBackend(t, "flaky", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprintln(w, "flaky")
	})
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	s, site := startProxy(t, oneBalancer("flaky=http://"+flaky.hostport()+" a=http://"+a.hostport()+" b=http://"+b.hostport(),
		"\t\toutlier {\n\t\t\tinterval 200ms\n\t\t\tfailure_ratio 40%\n\t\t\tmin_requests 10\n\t\t\tbase_ejection_time 1s\n\t\t}"), nil)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan map[int]int)
	go func() { done <- load(ctx, site+"/", 4, 0) }()
	defer func() { stop(); <-done }()

	testpeers.WaitUntil(t, 10*time.Second, "flaky ejected", func() bool { return memberOf(s, "flaky").EjectedUntil != nil })
	first := memberOf(s, "flaky")
	t.Logf("ejected at %s for %s: %s", first.EjectedAt.Format("15:04:05.000"), first.EjectedUntil.Sub(*first.EjectedAt), first.Reason)
	if !strings.HasPrefix(first.Reason, "ejected: error ratio ") || first.Healthy {
		t.Errorf("flaky: healthy %v, reason %q; want out, ejected for its error ratio", first.Healthy, first.Reason)
	}
	if d := first.EjectedUntil.Sub(*first.EjectedAt); d != time.Second {
		t.Errorf("first ejection for %s; want base_ejection_time 1s", d)
	}
	for _, name := range []string{"a", "b"} {
		if m := memberOf(s, name); !m.Healthy || m.Ejections != 0 {
			t.Errorf("%s: healthy %v, ejections %d; want a healthy peer left alone", name, m.Healthy, m.Ejections)
		}
	}
	if ev := s.Status().Balancers[0].RecentFailovers; len(ev) == 0 || !strings.HasPrefix(ev[0].Reason, "ejected for 1s: error ratio") || ev[0].From != "flaky" {
		t.Errorf("failover log %+v; want flaky's ejection first", ev)
	}

	testpeers.WaitUntil(t, 10*time.Second, "flaky back after its back-off", func() bool { return memberOf(s, "flaky").Healthy })
	t.Logf("back at %s, %s after the ejection (back-off 1s; Run checks every 250ms)", time.Now().Format("15:04:05.000"), time.Since(*first.EjectedAt).Round(time.Millisecond))
	testpeers.WaitUntil(t, 10*time.Second, "flaky ejected again", func() bool { return memberOf(s, "flaky").Ejections == 2 && !memberOf(s, "flaky").Healthy })
	second := memberOf(s, "flaky")
	if second.EjectedUntil == nil {
		t.Fatalf("flaky out again but not ejected: %q", second.Reason)
	}
	t.Logf("ejected again at %s for %s", second.EjectedAt.Format("15:04:05.000"), second.EjectedUntil.Sub(*second.EjectedAt))
	if d := second.EjectedUntil.Sub(*second.EjectedAt); d != 2*time.Second {
		t.Errorf("second ejection for %s; want 2 × base_ejection_time = 2s", d)
	}
	if bs := s.Status().Balancers[0]; bs.Ejections != 2 {
		t.Errorf("balancer ejections %d; want 2", bs.Ejections)
	}
}

// TestOutlierMaxEjection: with all three members failing every request,
// outlier ejection never has more than max_ejection 50% of them (one of
// three) out at once, and counts the outliers it had to leave in.
func TestOutlierMaxEjection(t *testing.T) {
	fail := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }
	m1, m2, m3 := newBackend(t, "m1", fail), newBackend(t, "m2", fail), newBackend(t, "m3", fail)
	s, site := startProxy(t, oneBalancer("m1=http://"+m1.hostport()+" m2=http://"+m2.hostport()+" m3=http://"+m3.hostport(),
		"\t\toutlier {\n\t\t\tinterval 100ms\n\t\t\tmin_requests 5\n\t\t\tbase_ejection_time 300ms\n\t\t\tmax_ejection 50%\n\t\t}"), nil)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan map[int]int)
	go func() { done <- load(ctx, site+"/", 4, 0) }()
	defer func() { stop(); <-done }()

	most, samples := 0, 0
	testpeers.WaitUntil(t, 20*time.Second, "ten outliers kept in by max_ejection, and three ejections", func() bool {
		bs := s.Status().Balancers[0]
		out := 0
		for _, m := range bs.Members {
			if !m.Healthy {
				out++
			}
		}
		most = max(most, out)
		samples++
		if out > 1 {
			t.Fatalf("%d of 3 members out at once; max_ejection 50%% allows 1", out)
		}
		return bs.EjectionsKept >= 10 && bs.Ejections >= 3
	})
	bs := s.Status().Balancers[0]
	t.Logf("all three failing: %d ejections, %d outliers kept in, at most %d of 3 out at once over %d samples", bs.Ejections, bs.EjectionsKept, most, samples)
}

// TestRetryBudgetDeadMember: one of three members dies under load while
// passive health keeps it in rotation (max_fails 1000). Without a budget
// every request that picks it is retried on the survivors, whose share of
// the load grows by half; with retry_budget 20% the retries stay within
// 20% of the balancer's requests, so the survivors' rate grows by at most
// that, and the refused retries are counted.
func TestRetryBudgetDeadMember(t *testing.T) {
	const perPhase = 900
	run := func(t *testing.T, budget string) (ratio, bound float64, st BalancerStatus) {
		a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
		c := newBackend(t, "c", nil)
		s, site := startProxy(t, oneBalancer("a=http://"+a.hostport()+" b=http://"+b.hostport()+" c=http://"+c.hostport(),
			"\t\tmax_fails 1000\n\t\tlb_retries 2\n"+budget), io.Discard)
		survivors := func() int64 { return a.hits.Load() + b.hits.Load() }
		load(t.Context(), site+"/", 8, perPhase)
		pre := float64(survivors()) / perPhase
		c.Close()                           // killed: connections refused from now on
		time.Sleep(1100 * time.Millisecond) // the budget's 1s window forgets the pre-kill requests
		before := survivors()
		got := load(t.Context(), site+"/", 8, perPhase)
		post := float64(survivors()-before) / perPhase
		st = s.Status().Balancers[0]
		ratio = post / pre
		bound = (pre + 0.20) / pre
		t.Logf("%s: survivors got %.3f attempts per request before the kill, %.3f after: ratio %.3f (budget bound %.3f); answers %v; retries refused %d",
			strings.TrimSpace(cmpStr(budget, "no retry_budget")), pre, post, ratio, bound, got, st.RetriesRefused)
		return ratio, bound, st
	}
	var without float64
	t.Run("without budget", func(t *testing.T) {
		ratio, bound, _ := run(t, "")
		without = ratio
		if ratio <= bound {
			t.Errorf("without a budget the survivors' rate grew %.3f×; want more than %.3f (every failed attempt retried)", ratio, bound)
		}
	})
	t.Run("retry_budget 20%", func(t *testing.T) {
		ratio, bound, st := run(t, "\t\tretry_budget 20% min 0 window 1s\n")
		// 3% over: the window slides by tenths, so at its edge it can hold
		// a little more than one window's retries.
		if ratio > bound*1.03 {
			t.Errorf("with retry_budget 20%% the survivors' rate grew %.3f×; want at most %.3f", ratio, bound)
		}
		if st.RetriesRefused == 0 || st.RetryBudget == nil {
			t.Errorf("retries refused %d, budget status %+v; want refusals counted", st.RetriesRefused, st.RetryBudget)
		}
		t.Logf("ratio without budget %.3f, with retry_budget 20%% %.3f", without, ratio)
	})
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestTryDuration: Caddy's lb_try_duration holds a request while its only
// member restarts: the first attempt is refused, the member is out for its
// recover time, and the request, instead of failing at once, waits
// lb_try_interval at a time until the member is back and is answered by
// it. Without lb_try_duration the same request fails.
func TestTryDuration(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        int
	}{
		{"without lb_try_duration", "", http.StatusBadGateway},
		{"with lb_try_duration", "\t\tlb_try_duration 20s\n\t\tlb_try_interval 50ms\n", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close() // the member is down: connections refused
			s, site := startProxy(t, oneBalancer("app=http://"+addr, "\t\trecover_time 300ms\n"+tc.extra), nil)
			got := make(chan int, 1)
			go func() {
				resp, err := http.Get(site + "/")
				if err != nil {
					got <- 0
					return
				}
				resp.Body.Close()
				got <- resp.StatusCode
			}()
			testpeers.WaitUntil(t, 10*time.Second, "the first attempt refused", func() bool {
				return memberOf(s, "app").Responses.Transport > 0
			})
			if tc.want == http.StatusOK {
				// The member comes back on its port.
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Skipf("the member's port was taken meanwhile: %v", err)
				}
				srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "back") })}
				go srv.Serve(ln)
				t.Cleanup(func() { srv.Close() })
			}
			if code := <-got; code != tc.want {
				t.Errorf("GET / = %d; want %d", code, tc.want)
			}
		})
	}
}

// TestOutlierLatency: a member whose answers take far longer than its
// peers' (all of them 200s) is ejected for its latency when
// latency_factor is set.
func TestOutlierLatency(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(40 * time.Millisecond)
		fmt.Fprintln(w, "slow")
	})
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	s, site := startProxy(t, oneBalancer("slow=http://"+slow.hostport()+" a=http://"+a.hostport()+" b=http://"+b.hostport(),
		"\t\toutlier {\n\t\t\tinterval 300ms\n\t\t\tmin_requests 3\n\t\t\tlatency_factor 5\n\t\t\tbase_ejection_time 1h\n\t\t}"), nil)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan map[int]int)
	go func() { done <- load(ctx, site+"/", 4, 0) }()
	defer func() { stop(); <-done }()
	testpeers.WaitUntil(t, 10*time.Second, "slow ejected", func() bool { return memberOf(s, "slow").EjectedUntil != nil })
	m := memberOf(s, "slow")
	t.Logf("%s", m.Reason)
	if !strings.HasPrefix(m.Reason, "ejected: mean latency ") {
		t.Errorf("reason %q; want its latency", m.Reason)
	}
	if memberOf(s, "a").Ejections+memberOf(s, "b").Ejections != 0 {
		t.Errorf("a fast member was ejected")
	}
}
