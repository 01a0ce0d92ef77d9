package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/replication"
)

func TestPinLimiter(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name  string
		burst int
		rate  float64
		takes []time.Time
		want  []bool
	}{
		{name: "burst, then empty", burst: 3, rate: 1,
			takes: []time.Time{t0, t0, t0, t0},
			want:  []bool{true, true, true, false}},
		{name: "refills at rate", burst: 2, rate: 2,
			takes: []time.Time{t0, t0, t0, at(500 * time.Millisecond), at(500 * time.Millisecond), at(1500 * time.Millisecond), at(1500 * time.Millisecond), at(1500 * time.Millisecond)},
			want:  []bool{true, true, false, true, false, true, true, false}},
		{name: "a long pause refills no more than the burst", burst: 2, rate: 10,
			takes: []time.Time{t0, t0, at(time.Hour), at(time.Hour), at(time.Hour)},
			want:  []bool{true, true, true, true, false}},
		{name: "an earlier time refills nothing", burst: 1, rate: 1,
			takes: []time.Time{at(10 * time.Second), t0, at(10 * time.Second)},
			want:  []bool{true, false, false}},
		{name: "zero burst refuses everything", burst: 0, rate: 0,
			takes: []time.Time{t0, at(time.Hour)},
			want:  []bool{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newPinLimiter(tc.burst, tc.rate)
			for i, now := range tc.takes {
				if got := l.take(now); got != tc.want[i] {
					t.Errorf("take #%d at +%v = %v; want %v", i+1, now.Sub(t0), got, tc.want[i])
				}
			}
		})
	}
}

func TestPinWorthy(t *testing.T) {
	const sent = "ABC123.dead"
	for _, tc := range []struct {
		name      string
		status    int
		setCookie []string
		want      bool
	}{
		{name: "200 without Set-Cookie", status: 200, want: true},
		{name: "204", status: 204, want: true},
		{name: "302 to a login page", status: 302, want: true},
		{name: "304", status: 304, want: true},
		{name: "400", status: 400},
		{name: "404 for an unknown page", status: 404},
		{name: "500", status: 500},
		{name: "503", status: 503},
		{name: "other cookies only", status: 200, setCookie: []string{"SID=x; Path=/", "JSESSIONIDX=y"}, want: true},
		{name: "the same session id again", status: 200, setCookie: []string{"JSESSIONID=" + sent + "; Path=/; HttpOnly"}, want: true},
		{name: "the same id, quoted", status: 200, setCookie: []string{`JSESSIONID="` + sent + `"; Path=/`}, want: true},
		{name: "a new session (Tomcat, unknown id)", status: 200, setCookie: []string{"JSESSIONID=F00D.b; Path=/; HttpOnly"}},
		{name: "renamed to the new route (JvmRouteBinderValve)", status: 200, setCookie: []string{"JSESSIONID=ABC123.b; Path=/; HttpOnly"}},
		{name: "session deleted", status: 200, setCookie: []string{"JSESSIONID=" + sent + "; Max-Age=0"}},
		{name: "new session on a redirect", status: 302, setCookie: []string{"JSESSIONID=F00D.b; Path=/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Set-Cookie": tc.setCookie}}
			if got := pinWorthy(resp, "JSESSIONID", sent); got != tc.want {
				t.Errorf("pinWorthy(%d, Set-Cookie %q, %q) = %v; want %v", tc.status, tc.setCookie, sent, got, tc.want)
			}
		})
	}
}

// startTable runs a session table with no peers until the test ends.
func startTable(t testing.TB, node string) *replication.Table {
	t.Helper()
	tab, err := replication.New(replication.Config{NodeName: node, StatePath: filepath.Join(t.TempDir(), "states.json")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tab.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("table Run: %v", err)
		}
	})
	return tab
}

// buildBalancer builds the Server for src around the session table tab,
// without listening, and returns its balancer "app": the tests that call
// Balancer.ServeHTTP directly.
func buildBalancer(t testing.TB, src string, tab *replication.Table) *Balancer {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s, err := New(cfg, Options{Logger: zerolog.New(t.Output()).Level(zerolog.InfoLevel), Sessions: tab})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s.Balancer("app")
}

// serveSession sends GET path with JSESSIONID=sid through b and returns
// the status and the member that answered (X-Route).
func serveSession(b *Balancer, sid, path string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, "http://app.test"+path, nil)
	req.Header.Set("Cookie", "JSESSIONID="+sid)
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("X-Route")
}

// deadAddr returns a loopback address nothing listens on (connect refused).
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestFailoverPinOnlyWhenServed: a session that fails over is pinned to
// its new member only when that member answered it without an error and
// kept its id; the others go back to their own member when it returns.
func TestFailoverPinOnlyWhenServed(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("JSESSIONID")
		id, _, _ := strings.Cut(c.Value, ".")
		switch r.URL.Path {
		case "/ok":
		case "/redirect":
			w.Header().Set("Location", "/login")
			w.WriteHeader(http.StatusFound)
		case "/same":
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: c.Value, Path: "/"})
		case "/new":
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "NEW" + id + ".b", Path: "/"})
		case "/renamed":
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id + ".b", Path: "/"})
		case "/logout":
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "", Path: "/", MaxAge: -1})
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	})
	a := newBackend(t, "a", nil)
	tab := startTable(t, "p1")
	bal := buildBalancer(t, oneBalancer("a=http://"+a.hostport()+" b=http://"+b.hostport(), ""), tab)
	cases := []struct {
		path   string
		pinned bool
	}{
		{"/ok", true}, {"/redirect", true}, {"/same", true},
		{"/new", false}, {"/renamed", false}, {"/logout", false}, {"/fail", false}, {"/missing", false},
	}
	if err := bal.SetState("a", 2); err != nil { // stopped
		t.Fatal(err)
	}
	for i, tc := range cases {
		if _, got := serveSession(bal, fmt.Sprintf("S%d.a", i), tc.path); got != "b" {
			t.Fatalf("GET %s of S%d.a with a stopped went to %q; want b", tc.path, i, got)
		}
	}
	if err := bal.SetState("a", 0); err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		sid := fmt.Sprintf("S%d.a", i)
		want := map[bool]string{true: "b", false: "a"}[tc.pinned]
		if _, got := serveSession(bal, sid, "/ok"); got != want {
			t.Errorf("%s, failed over by GET %s, went to %s once a returned; want %s (pinned %v)", sid, tc.path, got, want, tc.pinned)
		}
	}
	if n, refused := tab.Len(), bal.pinsRefused.Load(); n != 3 || refused != 0 {
		t.Errorf("table holds %d pins, %d refused; want 3, 0", n, refused)
	}
}

// TestFailoverOfManySessionsPinsThemAll: the sessions of a lost member
// arriving at once, 16 at a time, are all pinned (the bucket's burst
// covers them) and all stay on their failover member when it returns.
func TestFailoverOfManySessionsPinsThemAll(t *testing.T) {
	const n = 2000
	a, b, c := newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)
	tab := startTable(t, "p1")
	bal := buildBalancer(t, oneBalancer("a=http://"+a.hostport()+" b=http://"+b.hostport()+" c=http://"+c.hostport(), ""), tab)
	if err := bal.SetState("a", 2); err != nil {
		t.Fatal(err)
	}
	first := make([]string, n)
	forEach(n, 16, func(i int) { _, first[i] = serveSession(bal, fmt.Sprintf("LIVE%05d.a", i), "/") })
	if got, refused := tab.Len(), bal.pinsRefused.Load(); got != n || refused != 0 {
		t.Fatalf("%d sessions of a failed over at once: %d pinned, %d refused; want %d, 0", n, got, refused, n)
	}
	if err := bal.SetState("a", 0); err != nil {
		t.Fatal(err)
	}
	var moved atomic.Int64
	forEach(n, 16, func(i int) {
		if _, got := serveSession(bal, fmt.Sprintf("LIVE%05d.a", i), "/"); got != first[i] || got == "a" {
			moved.Add(1)
		}
	})
	if moved.Load() != 0 {
		t.Errorf("after a returned, %d of %d failed-over sessions left their failover member", moved.Load(), n)
	}
}

// forEach calls fn(i) for i in [0,n) on workers goroutines.
func forEach(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// TestUnpinnedFailoverAgrees: sessions whose pins the bucket refused still
// reach the same member through every proxy while their member is down:
// proxy 1 may pin none, proxy 2 only its first 100, and the two tables are
// not replicated; every session lands where the other proxy sent it, on
// every request, spread over the surviving members.
func TestUnpinnedFailoverAgrees(t *testing.T) {
	const n = 600
	var members []string
	for _, r := range []string{"a", "b", "c", "d"} {
		members = append(members, r+"=http://"+newBackend(t, r, nil).hostport())
	}
	src := oneBalancer(strings.Join(members, " ")+" dead=http://"+deadAddr(t), "")
	p1 := buildBalancer(t, src, startTable(t, "p1"))
	p2 := buildBalancer(t, src, startTable(t, "p2"))
	p1.pins = newPinLimiter(0, 0)
	p2.pins = newPinLimiter(100, 0)
	first := make([]string, n)
	spread := map[string]int{}
	for round, p := range []*Balancer{p1, p2, p1, p2} {
		for i := range n {
			sid := fmt.Sprintf("U%04d.dead", i)
			status, got := serveSession(p, sid, "/")
			switch {
			case status != http.StatusOK || got == "":
				t.Fatalf("round %d: %s: status %d from %q; want 200 from a live member", round+1, sid, status, got)
			case round == 0:
				first[i] = got
				spread[got]++
			case got != first[i]:
				t.Errorf("round %d: %s went to %s; proxy 1 sent it to %s first", round+1, sid, got, first[i])
			}
		}
	}
	t.Logf("%d sessions of the dead member: spread %v", n, spread)
	if len(spread) < 3 {
		t.Errorf("%d sessions of the dead member all went to %v; want them spread by the failover hash", n, spread)
	}
	for _, c := range []struct {
		name             string
		b                *Balancer
		entries, refused int
	}{
		{"proxy 1", p1, 0, 2 * n},
		{"proxy 2", p2, 100, 2*n - 100 - 100},
	} {
		if got, refused := c.b.tab.Len(), c.b.pinsRefused.Load(); got != c.entries || refused != uint64(c.refused) {
			t.Errorf("%s: %d pins, %d refused; want %d, %d", c.name, got, refused, c.entries, c.refused)
		}
	}
	// The refusals show in the read model (/api/status, /metrics).
	js, err := json.Marshal(p1.srv.Status())
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"pins_refused":%d`, 2*n); !strings.Contains(string(js), want) {
		t.Errorf("/api/status of proxy 1 lacks %s: %s", want, js)
	}
}

// TestFarmedPinsAreBounded (issue 12, point 9): 100,000 invented session
// ids naming a dead member, through a real Balancer and session table.
// A failover member that answers 200 without touching the session (the
// farmable case) gets at most pinBurst + pinRate × elapsed pins, the rest
// refused and counted; one that answers with a new session cookie, as
// Tomcat does for an unknown id, gets none. Every request is served by a
// live member. The test prints the entries and the heap growth.
func TestFarmedPinsAreBounded(t *testing.T) {
	const n = 100_000
	for _, tc := range []struct {
		name    string
		handler func(route string) http.HandlerFunc
		farm    bool // its answers are worth a pin
	}{
		{name: "200 without Set-Cookie", farm: true, handler: func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }
		}},
		{name: "new session cookie, as Tomcat", handler: func(route string) http.HandlerFunc {
			var next atomic.Int64
			return func(w http.ResponseWriter, r *http.Request) {
				http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: fmt.Sprintf("T%015d.%s", next.Add(1), route), Path: "/", HttpOnly: true})
				w.Write([]byte("ok\n"))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, "b", tc.handler("b"))
			c := newBackend(t, "c", tc.handler("c"))
			tab := startTable(t, "p1")
			bal := buildBalancer(t, oneBalancer("dead=http://"+deadAddr(t)+" b=http://"+b.hostport()+" c=http://"+c.hostport(), ""), tab)
			// Warm the transports and pools with sticky sessions (no pins).
			forEach(1000, 8, func(i int) { serveSession(bal, fmt.Sprintf("W%d.b", i), "/") })
			if tab.Len() != 0 {
				t.Fatalf("warm-up left %d entries; want 0", tab.Len())
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)

			var bad atomic.Int64
			var example atomic.Value
			t0 := time.Now()
			forEach(n, 8, func(i int) {
				status, got := serveSession(bal, fmt.Sprintf("FARM%011d.dead", i), "/")
				if status != http.StatusOK || (got != "b" && got != "c") {
					if bad.Add(1) == 1 {
						example.Store(fmt.Sprintf("%d from %q", status, got))
					}
				}
			})
			elapsed := time.Since(t0)
			entries := tab.Len()
			testpeers.WaitUntil(t, 5*time.Second, "the table to hand its writes to the sender", func() bool { return tab.Stats().SentEntries >= uint64(entries) })
			runtime.GC()
			runtime.ReadMemStats(&after)
			growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			refused := bal.pinsRefused.Load()
			perEntry := "-"
			if entries > 0 {
				perEntry = fmt.Sprint(growth / int64(entries))
			}
			t.Logf("%d invented ids naming a dead member in %v: %d pins, %d refused; heap growth after GC %d bytes (%s per entry)",
				n, elapsed.Round(time.Millisecond), entries, refused, growth, perEntry)

			if bad.Load() != 0 {
				t.Errorf("%d of %d requests not answered 200 by a live member, e.g. %v", bad.Load(), n, example.Load())
			}
			if !tc.farm {
				if entries != 0 || refused != 0 {
					t.Errorf("a member that replaces every session: %d pins, %d refused; want 0, 0", entries, refused)
				}
				return
			}
			// Every token the bucket can have given: its burst and what
			// pinRate added over the requests' span (they all started
			// within [t0, t0+elapsed]).
			bound := pinBurst + int(pinRate*elapsed.Seconds()) + 1
			if entries > bound {
				t.Errorf("%d invented ids: %d pins; want at most pinBurst + pinRate × %v = %d", n, entries, elapsed.Round(time.Millisecond), bound)
			}
			if entries < pinBurst {
				t.Errorf("%d invented ids: %d pins; want the whole burst of %d pinned", n, entries, pinBurst)
			}
			if int(refused) != n-entries {
				t.Errorf("%d failovers, %d pins: %d refused counted; want %d", n, entries, refused, n-entries)
			}
			// The bound at the default session_ttl of 30m: what an untouched
			// pin can outlive (1.25 session_ttl, then up to a minute to the
			// next sweep) times the rate, plus the burst.
			ttlBound := pinBurst + pinRate*int((30*time.Minute*5/4+time.Minute).Seconds())
			t.Logf("bound at session_ttl 30m: %d entries, %.1f MB at %s bytes per entry", ttlBound, float64(ttlBound)*float64(growth)/float64(entries)/1e6, perEntry)
		})
	}
}
