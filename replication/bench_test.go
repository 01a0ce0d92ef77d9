package replication

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Benchmarks for the numbers issue 6 asks for. The heavy ones do their work
// once per b.Loop iteration; run them with -benchtime=1x:
//
//	go test -run XXX -bench . -benchtime=1x ./replication/
//	go test -run XXX -bench 'Get|Set' -benchmem ./replication/

// sessionKey returns a Tomcat-like session id (32 hex digits and a route).
func sessionKey(i int) string {
	return fmt.Sprintf("%032X.tomcat%d", i*2654435761, i%4)
}

func benchNode(b *testing.B, name string) *node {
	cfg := fastConfig(name, key1)
	cfg.AntiEntropyInterval = 10 * time.Second // the default; keep rounds out of the way
	cfg.Logger = zerolog.Nop()
	cfg.MaxEntries = 4_000_000
	return startNode(b, cfg)
}

func BenchmarkGet(b *testing.B) {
	tb, _ := New(Config{NodeName: "n1"})
	const n = 100_000
	keys := make([]string, n)
	now := time.Now()
	for i := range keys {
		keys[i] = sessionKey(i)
		tb.Set("app", keys[i], "tomcat1", now)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tb.Get("app", keys[i%n], now)
		i++
	}
}

func BenchmarkGetParallel(b *testing.B) {
	tb, _ := New(Config{NodeName: "n1"})
	const n = 100_000
	keys := make([]string, n)
	now := time.Now()
	for i := range keys {
		keys[i] = sessionKey(i)
		tb.Set("app", keys[i], "tomcat1", now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tb.Get("app", keys[i%n], now)
			i++
		}
	})
}

func BenchmarkSet(b *testing.B) {
	tb, _ := New(Config{NodeName: "n1", MaxPending: 1 << 30, MaxEntries: 1 << 30})
	now := time.Now()
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = sessionKey(i)
	}
	routes := []string{"tomcat0", "tomcat1"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tb.Set("app", keys[i%len(keys)], routes[i&1], now)
		i++
		if i%(1<<16) == 0 { // what the flusher would do
			tb.outMu.Lock()
			tb.out = tb.out[:0]
			tb.outMu.Unlock()
		}
	}
}

// BenchmarkMemoryPerEntry measures the heap held per entry with 1,000,000
// Tomcat-style 40-byte session ids (target ≤ 150 bytes, keys included).
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = sessionKey(i)
	}
	now := time.Now()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tb, _ := New(Config{NodeName: "n1", MaxEntries: 2 * n})
		es := make([]Entry, 0, 1024)
		for i, k := range keys {
			es = append(es, Entry{Balancer: "app", Key: k, Route: "tomcat" + strconv.Itoa(i%4), Origin: "n2", Version: MakeVersion(now, 0), Expires: now.Add(time.Hour)})
			if len(es) == cap(es) {
				tb.Apply(es, now)
				es = es[:0]
			}
		}
		tb.Apply(es, now)
		es = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tb.Len() != n {
			b.Fatalf("Len() = %d; want %d", tb.Len(), n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/entry")
		runtime.KeepAlive(tb)
	}
}

// BenchmarkReplicationLag measures how long a Set on one of three nodes takes
// to be visible on both others, over loopback, one change every 2ms.
func BenchmarkReplicationLag(b *testing.B) {
	a, n2, n3 := benchNode(b, "a"), benchNode(b, "b"), benchNode(b, "c")
	mesh(a, n2, n3)
	waitReady(b, a, n2, n3)
	var lags []time.Duration
	i := 0
	for b.Loop() {
		for range 500 {
			k := sessionKey(i)
			i++
			start := time.Now()
			a.Set("app", k, "tomcat1", start)
			for _, n := range []*node{n2, n3} {
				for {
					if _, ok := n.Get("app", k, start); ok {
						break
					}
					if time.Since(start) > 5*time.Second {
						b.Fatal("change not replicated within 5s")
					}
					time.Sleep(20 * time.Microsecond)
				}
			}
			lags = append(lags, time.Since(start))
			time.Sleep(2 * time.Millisecond)
		}
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkSustainedChanges measures changes per second written on one node
// and applied on two others: the clock runs from the first Set until both
// peers hold every entry.
func BenchmarkSustainedChanges(b *testing.B) {
	a, n2, n3 := benchNode(b, "a"), benchNode(b, "b"), benchNode(b, "c")
	mesh(a, n2, n3)
	waitReady(b, a, n2, n3)
	const n = 300_000
	keys := make([]string, n)
	round := 0
	for b.Loop() {
		for i := range keys {
			keys[i] = sessionKey(round*n + i)
		}
		want := (round + 1) * n
		round++
		start := time.Now()
		for _, k := range keys {
			a.Set("app", k, "tomcat1", start)
		}
		for n2.Len() < want || n3.Len() < want {
			if time.Since(start) > 60*time.Second {
				b.Fatalf("not replicated in 60s: %d, %d of %d", n2.Len(), n3.Len(), want)
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(n/time.Since(start).Seconds(), "changes/s")
	}
	st := a.Stats()
	b.ReportMetric(float64(st.Resyncs), "resyncs")
}

// BenchmarkFullResync measures how long a node joining a cluster whose table
// holds 1,000,000 entries takes to become ready (it then holds them all).
func BenchmarkFullResync(b *testing.B) {
	const n = 1_000_000
	a := benchNode(b, "a")
	a.SetPeers(nil)
	now := time.Now()
	es := make([]Entry, 0, 4096)
	for i := range n {
		es = append(es, Entry{Balancer: "app", Key: sessionKey(i), Route: "tomcat" + strconv.Itoa(i%4), Origin: "a", Version: MakeVersion(now, 0), Expires: now.Add(time.Hour)})
		if len(es) == cap(es) {
			a.Apply(es, now)
			es = es[:0]
		}
	}
	a.Apply(es, now)
	es = nil
	i := 0
	for b.Loop() {
		c := benchNode(b, "c"+strconv.Itoa(i))
		i++
		start := time.Now()
		a.SetPeers([]Peer{c.peer()})
		c.SetPeers([]Peer{a.peer()})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := c.WaitSynced(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		d := time.Since(start)
		if c.Len() != n {
			b.Fatalf("ready with %d entries; want %d", c.Len(), n)
		}
		b.ReportMetric(d.Seconds(), "s/resync")
		c.stop(b)
	}
}
