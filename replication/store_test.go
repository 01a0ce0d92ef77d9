package replication

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTableHeapObjects checks that the session table's entries are not heap
// objects of their own: the garbage collector marks every object at each
// cycle, and with one per entry a table of 1,000,000 sessions made each
// cycle take ~100 ms and every request ~20 % more CPU (bench/README.md).
// With one string per key (the storage before), 100,000 entries left more
// than 100,000 objects.
func TestTableHeapObjects(t *testing.T) {
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tb := scaleTable(t, n, time.Now())
	runtime.GC()
	runtime.ReadMemStats(&after)
	objects := int64(after.HeapObjects) - int64(before.HeapObjects)
	t.Logf("%d entries: %d heap objects, %.1f heap bytes per entry", n, objects, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n)
	if objects > n/10 {
		t.Errorf("a table of %d entries holds %d heap objects; want under %d (no object per entry)", n, objects, n/10)
	}
	if _, ok := tb.Get("app", sessionKey(n/2), time.Now()); !ok {
		t.Error("Get of a stored key: not found")
	}
	runtime.KeepAlive(tb)
}

// keysInShards returns n distinct session keys of balancer "app" that fall
// in the given shards, so that a test can fill a shard beyond its
// compaction and eviction thresholds with few entries.
func keysInShards(n int, shards ...uint64) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := sessionKey(i)
		if slices.Contains(shards, keyHash("app", k)%numShards) {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestTableIndexCollisions runs one random sequence of writes, applies,
// touches, sweeps and evictions on tables whose placement and keyed hashes
// are cut to 0, 1 and 4 bits for indexing (so that most keys share an index
// with another and live on the second and third levels, store.go) and on a
// normal table: every read must agree, and so must the final entries,
// digests and counts. The keys fall in two shards, so the arenas are
// compacted many times over.
func TestTableIndexCollisions(t *testing.T) {
	const (
		ttl    = 2000 * time.Second // slack 500 s: every expiry a write sets is 0 mod 10 s
		perCap = 48                 // per shard; the two shards share 160 keys
	)
	keys := keysInShards(160, 3, 200)
	// High bits: the low ones of the placement hash pick the shard.
	masks := []uint64{^uint64(0), 0, 1 << 63, 0xf << 60}
	tables := make([]*Table, len(masks))
	for i, m := range masks {
		tables[i] = newTestTable(t, Config{NodeName: "n1", SessionTTL: ttl, MaxEntries: perCap * numShards})
		tables[i].indexMask = m
	}
	rng := rand.New(rand.NewPCG(1, 2))
	routes := []string{"tomcat1", "tomcat2", "tomcat3"}
	compactions, spilled, spilled2 := 0, 0, 0
	for op := range 6000 {
		// One operation every 10 s, so that no two entries share an
		// expiry and eviction (the oldest expiries first) evicts the same
		// entries from every table.
		now := t0.Add(time.Duration(op) * 10 * time.Second)
		k := keys[rng.IntN(len(keys))]
		r := routes[rng.IntN(len(routes))]
		kind := rng.IntN(100)
		// An entry from a peer, expiring at 5 mod 10 s: never the expiry of
		// a local write.
		peer := Entry{Balancer: "app", Key: k, Route: r, Origin: "n2",
			Version: MakeVersion(now, 0) + Version(rng.IntN(3)) - 1, Expires: now.Add(ttl + 5*time.Second)}
		if rng.IntN(4) == 0 {
			peer.Route, peer.Deleted = "", true
		}
		var got []string
		for _, tb := range tables {
			dead := 0
			for i := range tb.shards {
				dead += tb.shards[i].dead
			}
			var res string
			switch {
			case kind < 40:
				e, err := tb.Set("app", k, r, now)
				res = fmt.Sprint(e, err)
			case kind < 50:
				e, err := tb.Delete("app", k, now)
				res = fmt.Sprint(e, err)
			case kind < 65:
				res = fmt.Sprint(tb.Touch("app", k, now))
			case kind < 80:
				res = fmt.Sprint(tb.Apply([]Entry{peer}, now))
			case kind < 83:
				res = fmt.Sprint(tb.Sweep(now))
			default:
				e, ok := tb.Lookup("app", k, now)
				route, ok2 := tb.Get("app", k, now)
				res = fmt.Sprint(e, ok, route, ok2)
			}
			after := 0
			for i := range tb.shards {
				sh := &tb.shards[i]
				after += sh.dead
				if sh.dead >= compactMin && 2*sh.dead > len(sh.keys)-sh.dead {
					t.Fatalf("op %d, index mask %#x: shard %d has %d dead arena bytes for %d live; want compacted", op, tb.indexMask, i, sh.dead, len(sh.keys)-sh.dead)
				}
			}
			if tb.indexMask == 0 {
				if after < dead {
					compactions++
				}
				for i := range tb.shards {
					spilled = max(spilled, len(tb.shards[i].spill))
					spilled2 = max(spilled2, len(tb.shards[i].spill2))
				}
			}
			got = append(got, res)
		}
		for i := 1; i < len(got); i++ {
			if got[i] != got[0] {
				t.Fatalf("op %d on key %s: index mask %#x gives %s; the normal table %s", op, k, masks[i], got[i], got[0])
			}
		}
	}
	if compactions == 0 {
		t.Error("no arena was compacted; the test does not cover compaction")
	}
	if spilled == 0 || spilled2 == 0 {
		t.Errorf("at most %d and %d entries spilled to the second and third level; the test does not cover them", spilled, spilled2)
	}
	if tables[0].sync.evicted.Load() == 0 {
		t.Error("no entry was evicted; the test does not cover eviction")
	}
	now := t0.Add(6000 * 10 * time.Second)
	want := tableState(t, tables[0], now)
	for i, tb := range tables[1:] {
		if got := tableState(t, tb, now); got != want {
			t.Errorf("index mask %#x: table\n%s\nwant\n%s", masks[i+1], got, want)
		}
	}
}

// tableState describes everything a table holds (sorted entries, digests,
// Len) and checks its arenas' accounting: live bytes are the stored keys'.
func tableState(t *testing.T, tb *Table, now time.Time) string {
	t.Helper()
	var es []string
	tb.Snapshot(now.Add(-24*time.Hour), func(e Entry) bool {
		es = append(es, fmt.Sprint(e))
		return true
	})
	slices.Sort(es)
	for i := range tb.shards {
		sh := &tb.shards[i]
		live := 0
		sh.forEachLocked(func(k []byte, _ slot) bool {
			live += len(k)
			return true
		})
		if live != len(sh.keys)-sh.dead {
			t.Errorf("shard %d: %d live key bytes; arena of %d with %d dead", i, live, len(sh.keys), sh.dead)
		}
		if sh.dead >= compactMin && 2*sh.dead > live {
			t.Errorf("shard %d: %d dead bytes for %d live; want compacted", i, sh.dead, live)
		}
	}
	return fmt.Sprintf("%s\ndigests %x\nlen %d", strings.Join(es, "\n"), *tb.digests(digestWindow(0, true)), tb.Len())
}
