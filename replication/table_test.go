package replication

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newTestTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	if cfg.NodeName == "" {
		cfg.NodeName = "n1"
	}
	if tt, ok := t.(*testing.T); ok {
		cfg.Logger = zerolog.New(tt.Output()).Level(zerolog.InfoLevel)
	}
	tb, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

func TestSetGetDelete(t *testing.T) {
	tb := newTestTable(t, Config{})
	if _, ok := tb.Get("app", "s1", t0); ok {
		t.Fatal("Get on empty table = ok")
	}
	e, err := tb.Set("app", "s1", "tomcat2", t0)
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	if e.Origin != "n1" || e.Route != "tomcat2" || e.Deleted || !e.Expires.Equal(t0.Add(30*time.Minute+450*time.Second)) {
		t.Errorf("Set = %+v; want origin n1, route tomcat2, expiry ttl+ttl/4", e)
	}
	if r, ok := tb.Get("app", "s1", t0); !ok || r != "tomcat2" {
		t.Errorf("Get(app, s1) = %q, %v; want tomcat2, true", r, ok)
	}
	if _, ok := tb.Get("other", "s1", t0); ok {
		t.Error("Get(other, s1) = ok; balancers must not share keys")
	}
	// Same route again: no new version.
	e2, _ := tb.Set("app", "s1", "tomcat2", t0.Add(time.Second))
	if e2.Version != e.Version {
		t.Errorf("Set of an unchanged pin made version %v; want %v", e2.Version, e.Version)
	}
	// New route: new version.
	e3, _ := tb.Set("app", "s1", "tomcat3", t0.Add(time.Second))
	if e3.Version <= e.Version || e3.Route != "tomcat3" {
		t.Errorf("Set of a new route = %+v; want a later version", e3)
	}
	d, _ := tb.Delete("app", "s1", t0.Add(2*time.Second))
	if !d.Deleted || d.Version <= e3.Version {
		t.Errorf("Delete = %+v; want a later tombstone", d)
	}
	if _, ok := tb.Get("app", "s1", t0.Add(2*time.Second)); ok {
		t.Error("Get after Delete = ok")
	}
	if tb.Len() != 1 {
		t.Errorf("Len() = %d; want 1 (the tombstone)", tb.Len())
	}
	if _, err := tb.Set("app", "", "t1", t0); err != ErrInvalid {
		t.Errorf("Set with empty key = %v; want ErrInvalid", err)
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	tb := newTestTable(t, Config{})
	key := "0123456789ABCDEF0123456789ABCDEF.tomcat1"
	tb.Set("app", key, "tomcat1", t0)
	if n := testing.AllocsPerRun(1000, func() { tb.Get("app", key, t0) }); n != 0 {
		t.Errorf("Get allocates %v times; want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { tb.Touch("app", key, t0) }); n != 0 {
		t.Errorf("Touch (no refresh due) allocates %v times; want 0", n)
	}
}

func TestApply(t *testing.T) {
	tb := newTestTable(t, Config{})
	local, _ := tb.Set("app", "s1", "t1", t0)
	remoteNewer := Entry{Balancer: "app", Key: "s1", Route: "t2", Origin: "n2", Version: local.Version + 1, Expires: t0.Add(time.Hour)}
	remoteOlder := Entry{Balancer: "app", Key: "s1", Route: "t3", Origin: "n3", Version: local.Version - 1, Expires: t0.Add(2 * time.Hour)}
	expired := Entry{Balancer: "app", Key: "s2", Route: "t3", Origin: "n3", Version: 1, Expires: t0.Add(-time.Second)}
	invalid := Entry{Balancer: "", Key: "s3", Route: "t3", Origin: "n3", Version: 1, Expires: t0.Add(time.Hour)}
	if n := tb.Apply([]Entry{remoteNewer, remoteOlder, expired, invalid}, t0); n != 2 {
		t.Errorf("Apply = %d changed; want 2", n)
	}
	got, ok := tb.Lookup("app", "s1", t0)
	want := remoteNewer
	want.Expires = t0.Add(2 * time.Hour)
	if !ok || got != want {
		t.Errorf("Lookup after Apply = %+v, %v; want %+v", got, ok, want)
	}
	if _, ok := tb.Get("app", "s2", t0); ok || tb.Len() != 1 {
		t.Errorf("expired entry applied: Len() = %d", tb.Len())
	}
	// The next local write wins over what was applied.
	e, _ := tb.Set("app", "s1", "t4", t0)
	if e.Version <= remoteNewer.Version {
		t.Errorf("Set after Apply has version %v; want above %v", e.Version, remoteNewer.Version)
	}
}

func TestDigestsConverge(t *testing.T) {
	a := newTestTable(t, Config{NodeName: "a"})
	b := newTestTable(t, Config{NodeName: "b"})
	var es []Entry
	for i := range 500 {
		e, _ := a.Set("app", fmt.Sprintf("s%d", i), fmt.Sprintf("t%d", i%3), t0)
		es = append(es, e)
	}
	d, _ := a.Delete("app", "s7", t0)
	es = append(es, d)
	// b receives them in reverse order, some twice.
	for i := len(es) - 1; i >= 0; i-- {
		b.Apply([]Entry{es[i]}, t0)
	}
	b.Apply(es[:100], t0)
	if *a.digests(digestWindow(0, true)) != *b.digests(digestWindow(0, true)) {
		t.Fatal("digests differ after applying the same entries")
	}
	if a.Len() != b.Len() {
		t.Errorf("Len() = %d and %d; want equal", a.Len(), b.Len())
	}
	// Sweeping everything empties both digests.
	a.Sweep(t0.Add(time.Hour))
	if *a.digests(digestWindow(0, true)) != [numShards]uint64{} {
		t.Error("digest of an empty table not zero")
	}
}

func TestSetOverExpiredEntry(t *testing.T) {
	a := newTestTable(t, Config{NodeName: "a"})
	b := newTestTable(t, Config{NodeName: "a"})
	a.Set("app", "s1", "t1", t0)
	later := t0.Add(time.Hour)
	e, _ := a.Set("app", "s1", "t2", later)
	b.Apply([]Entry{e}, later)
	if a.Len() != 1 {
		t.Errorf("Len() after re-Set of an expired key = %d; want 1", a.Len())
	}
	if *a.digests(digestWindow(0, true)) != *b.digests(digestWindow(0, true)) {
		t.Error("digest still counts the expired entry")
	}
}

func TestEviction(t *testing.T) {
	tb := newTestTable(t, Config{MaxEntries: numShards * 16})
	for i := range numShards * 64 {
		tb.Set("app", fmt.Sprintf("s%d", i), "t1", t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := tb.Len(); n > numShards*16 {
		t.Errorf("Len() = %d; want at most %d", n, numShards*16)
	}
	if tb.Stats().Evicted == 0 {
		t.Error("Stats().Evicted = 0; want evictions")
	}
	// The last written survive.
	last := fmt.Sprintf("s%d", numShards*64-1)
	if _, ok := tb.Get("app", last, t0); !ok {
		t.Errorf("newest entry %s evicted", last)
	}
}

// TestTouchLazyExpiry checks the refresh rule on virtual time: requests keep
// a session alive, but only one replicated write per ttl/4.
func TestTouchLazyExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 40 * time.Minute
		tb := newTestTable(t, Config{SessionTTL: ttl})
		tb.Set("app", "s1", "t1", time.Now())
		queued := func() int {
			tb.outMu.Lock()
			defer tb.outMu.Unlock()
			return len(tb.out)
		}
		// A request every minute for 2 hours.
		for range 120 {
			time.Sleep(time.Minute)
			if !tb.Touch("app", "s1", time.Now()) {
				t.Fatalf("Touch at %v = false; want a live entry", time.Now())
			}
		}
		// 1 Set + at most one refresh per ttl/4 (10 min) over 120 min.
		if n := queued(); n < 10 || n > 13 {
			t.Errorf("replicated writes for 120 touches = %d; want 10 to 13", n)
		}
		// Idle: alive until at least ttl after the last request, gone by
		// ttl + ttl/4.
		last := time.Now()
		time.Sleep(ttl - time.Second)
		if _, ok := tb.Get("app", "s1", time.Now()); !ok {
			t.Errorf("entry gone %v after its last use; want kept for the ttl %v", time.Since(last), ttl)
		}
		time.Sleep(ttl/4 + time.Second)
		if _, ok := tb.Get("app", "s1", time.Now()); ok {
			t.Errorf("entry alive %v after its last use; want expired by ttl+ttl/4", time.Since(last))
		}
		if tb.Touch("app", "s1", time.Now()) {
			t.Error("Touch of an expired entry = true")
		}
	})
}

// TestFlushCoalesces checks, on virtual time, that changes made within the
// coalescing window go out as one frame per peer, and that a full peer queue
// becomes a resync request instead of growing.
func TestFlushCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTestTable(t, Config{Coalesce: 5 * time.Millisecond, PeerQueueFrames: 2, BatchEntries: 10})
		p := &peer{name: "n2", q: make(chan []byte, 2), wake: make(chan struct{}, 1)}
		tb.sync.peers["n2"] = p
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); tb.flushLoop(ctx) }()

		for i := range 10 {
			tb.Set("app", fmt.Sprintf("s%d", i), "t1", time.Now())
			time.Sleep(100 * time.Microsecond)
		}
		synctest.Wait()
		if len(p.q) != 0 {
			t.Fatalf("frames sent before the coalescing window closed: %d", len(p.q))
		}
		time.Sleep(5 * time.Millisecond)
		synctest.Wait()
		if len(p.q) != 1 {
			t.Fatalf("frames after one window = %d; want 1", len(p.q))
		}
		m := decodeFrame(t, tb, <-p.q)
		if len(m.entries) != 10 {
			t.Errorf("entries in the batch = %d; want 10", len(m.entries))
		}
		// 30 changes = 3 frames of 10 for a queue of 2: resync.
		for i := range 30 {
			tb.Set("app", fmt.Sprintf("x%d", i), "t1", time.Now())
		}
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		if !p.resync.Load() || len(p.q) != 2 {
			t.Errorf("after overflow: resync = %v, queued = %d; want true, 2", p.resync.Load(), len(p.q))
		}
		cancel()
		<-done
	})
}

func decodeFrame(t *testing.T, tb *Table, f []byte) message {
	t.Helper()
	p, err := tb.sync.kr.open(nil, f[4:])
	if err != nil {
		t.Fatalf("open frame: %v", err)
	}
	m, err := decodeMessage(p)
	if err != nil {
		t.Fatalf("decode frame: %v", err)
	}
	return m
}

func TestMemberStatePersisted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "member-states.json")
	a := newTestTable(t, Config{NodeName: "a", StatePath: path})
	m, err := a.SetMemberState("app", "t1", "disabled", t0)
	if err != nil {
		t.Fatalf("SetMemberState: %v", err)
	}
	select {
	case <-a.MemberStatesChanged():
	default:
		t.Error("MemberStatesChanged not signalled")
	}
	// A restart reads the file back, and its next change wins even with
	// the clock set back.
	b := newTestTable(t, Config{NodeName: "a", StatePath: path})
	got, ok := b.MemberState("app", "t1")
	if !ok || got != m {
		t.Fatalf("MemberState after restart = %+v, %v; want %+v", got, ok, m)
	}
	m2, _ := b.SetMemberState("app", "t1", "active", t0.Add(-time.Hour))
	if m2.Version <= m.Version {
		t.Errorf("SetMemberState after restart has version %v; want above %v", m2.Version, m.Version)
	}
	// A remote change is merged.
	n := b.applyMemberStates([]MemberState{{Balancer: "app", Member: "t2", State: "stopped", Origin: "c", Version: 5}}, t0)
	if n != 1 || len(b.MemberStates()) != 2 {
		t.Errorf("applyMemberStates = %d, MemberStates() = %v", n, b.MemberStates())
	}
}
