package replication

import (
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Scaling benchmarks (issue 18, point 3). Each size is a sub-benchmark, so
// one run prints the curve; compare sizes within a run (bench/README.md):
//
//	go test -run XXX -bench ScaleSessionTable -benchtime 200ms -count 3 ./replication/
//	go test -run XXX -bench ScaleSessionTableGC -benchtime 5x -count 3 ./replication/
//	go test -run XXX -bench ScaleReplicationCPU -benchtime 1x -count 3 ./replication/

// BenchmarkScaleSessionTable is the per-request work on the session table
// (failover pins, learned sessions) with 0, 100,000 and 1,000,000 entries:
// Get of a key it holds (hit) and of one it does not (miss: every
// jvmroute request of an unpinned session), Touch of a live entry, and Set
// of an unchanged pin (a refresh). The table is built once per size.
func BenchmarkScaleSessionTable(b *testing.B) {
	for _, n := range []int{0, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			now := time.Now()
			tb := scaleTable(b, n, now)
			// 1024 keys of each kind, spread over the table, so that the
			// loop does not hit one cache line.
			const probes = 1024
			hits := make([]string, probes)
			misses := make([]string, probes)
			for i := range probes {
				if n > 0 {
					hits[i] = sessionKey(i * (n / probes))
				}
				misses[i] = sessionKey(n + 1 + i)
			}
			if n > 0 {
				b.Run("get-hit", func(b *testing.B) {
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if _, ok := tb.Get("app", hits[i%probes], now); !ok {
							b.Fatal("miss")
						}
						i++
					}
				})
				b.Run("touch", func(b *testing.B) {
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if !tb.Touch("app", hits[i%probes], now) {
							b.Fatal("miss")
						}
						i++
					}
				})
				b.Run("set-unchanged", func(b *testing.B) {
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						k := hits[i%probes]
						r, _ := tb.Get("app", k, now)
						if _, err := tb.Set("app", k, r, now); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
			b.Run("get-miss", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, ok := tb.Get("app", misses[i%probes], now); ok {
						b.Fatal("hit")
					}
					i++
				}
			})
		})
	}
}

// scaleTable returns a table of n Tomcat-like entries of balancer "app"
// (sessionKey(0) to sessionKey(n-1), routes tomcat0 to tomcat3), written by
// Apply in batches as a full copy from a peer would, expiring an hour after
// now. The balancer and a route are interned even for n == 0, so that a miss
// is a lookup in the shard and not the unknown-balancer shortcut. The table
// has no listener and is never Run, so it needs no Close (and a Cleanup
// would keep it reachable past its benchmark).
func scaleTable(tb testing.TB, n int, now time.Time) *Table {
	tb.Helper()
	t, err := New(Config{NodeName: "n1", Logger: zerolog.Nop()})
	if err != nil {
		tb.Fatal(err)
	}
	t.Set("app", "seed", "tomcat1", now.Add(-24*time.Hour))
	t.Sweep(now)
	es := make([]Entry, 0, 4096)
	for i := range n {
		es = append(es, Entry{Balancer: "app", Key: sessionKey(i), Route: "tomcat" + strconv.Itoa(i%4), Origin: "n2", Version: MakeVersion(now, 0), Expires: now.Add(time.Hour)})
		if len(es) == cap(es) {
			t.Apply(es, now)
			es = es[:0]
		}
	}
	t.Apply(es, now)
	if t.Len() != n {
		tb.Fatalf("Len() = %d; want %d", t.Len(), n)
	}
	return t
}

// BenchmarkScaleSessionTableGC is what the session table costs the garbage
// collector at 0, 100,000 and 1,000,000 entries (built as in
// BenchmarkScaleSessionTable): the wall time of one forced collection,
// runtime.GC() (gc-ms; every cycle marks what the table holds, so this is
// paid again at each cycle of a busy proxy), the heap objects left after it
// (heap-objects, the whole test process's: compare with entries=0), and the
// heap bytes per entry (heap-B/entry, against entries=0's heap).
func BenchmarkScaleSessionTableGC(b *testing.B) {
	var base uint64 // HeapAlloc with an empty table
	for _, n := range []int{0, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			tb := scaleTable(b, n, time.Now())
			runtime.GC()
			for b.Loop() {
				runtime.GC()
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "gc-ms")
			b.ReportMetric(float64(ms.HeapObjects), "heap-objects")
			if n == 0 {
				base = ms.HeapAlloc
			} else if base != 0 {
				b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(base))/float64(n), "heap-B/entry")
			}
			runtime.KeepAlive(tb)
		})
	}
}

// cpuTime is the CPU time (user and system) of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScaleReplicationCPU is the replication CPU per proxy in a
// cluster of 3, 6, 12 and 24 proxies (full mesh over loopback, in this one
// process, with the production intervals: 2 ms coalescing, anti-entropy
// every 10 s, counters every 2 s) at a fixed session-change rate of the
// whole cluster (scaleRate a second, written round-robin on every proxy),
// for scaleWindow. It reports cpu-%/proxy, the process's CPU time (getrusage:
// time actually run, so a busy machine inflates it less than wall time)
// over the window and the proxies, in % of one core, and µs-cpu/change, per
// proxy per change. The window ends once every proxy holds every change.
// The writer's own Set calls are included (a small part).
func BenchmarkScaleReplicationCPU(b *testing.B) {
	const (
		scaleRate   = 1000 // changes a second, the whole cluster
		scaleWindow = 3 * time.Second
		tick        = 10 * time.Millisecond
	)
	for _, n := range []int{3, 6, 12, 24} {
		b.Run(fmt.Sprintf("proxies=%d", n), func(b *testing.B) {
			nodes := make([]*node, n)
			for i := range nodes {
				cfg := Config{NodeName: "p" + strconv.Itoa(i), Bind: "127.0.0.1:0", Keys: [][]byte{key1}, Label: "test", Logger: zerolog.Nop()}
				nodes[i] = startNode(b, cfg)
			}
			mesh(nodes...)
			waitReady(b, nodes...)
			time.Sleep(500 * time.Millisecond) // connections settle
			written := 0
			for b.Loop() {
				perTick := scaleRate * int(tick) / int(time.Second)
				c0, w0 := cpuTime(b), time.Now()
				t := time.NewTicker(tick)
				for time.Since(w0) < scaleWindow {
					<-t.C
					now := time.Now()
					for range perTick {
						nodes[written%n].Set("app", sessionKey(written), "tomcat1", now)
						written++
					}
				}
				t.Stop()
				for _, nd := range nodes {
					for nd.Len() < written {
						if time.Since(w0) > scaleWindow+30*time.Second {
							b.Fatalf("%s holds %d of %d changes after 30 s", nd.name, nd.Len(), written)
						}
						time.Sleep(time.Millisecond)
					}
				}
				wall, cpu := time.Since(w0), cpuTime(b)-c0
				b.ReportMetric(100*cpu.Seconds()/wall.Seconds()/float64(n), "cpu-%/proxy")
				b.ReportMetric(float64(cpu.Microseconds())/float64(n)/float64(scaleRate*scaleWindow/time.Second), "µs-cpu/change/proxy")
			}
		})
	}
}
