package replication

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/internal/testpeers"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
)

// node is a table running on 127.0.0.1 for cluster tests.
type node struct {
	*Table
	name   string
	cancel context.CancelFunc
	done   chan error
}

func (n *node) peer() Peer { return Peer{Name: n.name, Addr: n.Addr().String()} }

// stop stops Run and waits for it.
func (n *node) stop(t testing.TB) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		t.Errorf("%s: Run = %v", n.name, err)
	}
	n.cancel = nil
}

// fastConfig is a Config with timers scaled down for tests.
func fastConfig(name string, keys ...[]byte) Config {
	return Config{
		NodeName:            name,
		Bind:                "127.0.0.1:0",
		Keys:                keys,
		Label:               "test",
		AntiEntropyInterval: 200 * time.Millisecond,
		StatsInterval:       50 * time.Millisecond,
		SyncTimeout:         time.Second,
		DialTimeout:         time.Second,
	}
}

func startNode(t testing.TB, cfg Config) *node {
	t.Helper()
	if tt, ok := t.(*testing.T); ok && cfg.Logger.GetLevel() == zerolog.TraceLevel { // not set by the test
		cfg.Logger = zerolog.New(tt.Output()).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	}
	tb, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeName, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{Table: tb, name: cfg.NodeName, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- tb.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// mesh tells every node about all the others.
func mesh(nodes ...*node) {
	var ps []Peer
	for _, n := range nodes {
		ps = append(ps, n.peer())
	}
	for _, n := range nodes {
		n.SetPeers(ps)
	}
}

// startMesh starts one node per name, all with key1 and each a peer of
// the others, and waits until every one is ready.
func startMesh(t testing.TB, names ...string) []*node {
	t.Helper()
	var ns []*node
	for _, name := range names {
		ns = append(ns, startNode(t, fastConfig(name, key1)))
	}
	mesh(ns...)
	waitReady(t, ns...)
	return ns
}

func waitReady(t testing.TB, nodes ...*node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.WaitSynced(ctx); err != nil {
			t.Fatalf("%s: WaitSynced: %v; stats %+v", n.name, err, n.Stats())
		}
	}
}

func TestClusterPropagates(t *testing.T) {
	ns := startMesh(t, "a", "b", "c")
	a, b, c := ns[0], ns[1], ns[2]

	if _, err := a.Set("app", "s1", "tomcat2", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{b, c} {
		testpeers.WaitUntil(t, 5*time.Second, n.name+" sees the pin", func() bool {
			r, ok := n.Get("app", "s1", time.Now())
			return ok && r == "tomcat2"
		})
	}
	// The push was timed on arrival: a lag measured, and sane on loopback.
	if st := b.Stats(); st.LagAt.IsZero() || st.Lag <= 0 || st.Lag > 5*time.Second {
		t.Errorf("b's replication lag after a push: %v measured at %v", st.Lag, st.LagAt)
	}
	// A failover re-pin on b wins everywhere; then a delete on c.
	b.Set("app", "s1", "tomcat3", time.Now())
	for _, n := range []*node{a, c} {
		testpeers.WaitUntil(t, 5*time.Second, n.name+" sees the re-pin", func() bool {
			r, _ := n.Get("app", "s1", time.Now())
			return r == "tomcat3"
		})
	}
	c.Delete("app", "s1", time.Now())
	for _, n := range []*node{a, b} {
		testpeers.WaitUntil(t, 5*time.Second, n.name+" sees the delete", func() bool {
			_, ok := n.Get("app", "s1", time.Now())
			return !ok
		})
	}
	// Member state set on one applies on all.
	a.SetMemberState("app", "tomcat1", "disabled", time.Now())
	for _, n := range []*node{b, c} {
		testpeers.WaitUntil(t, 5*time.Second, n.name+" sees the member state", func() bool {
			m, ok := n.MemberState("app", "tomcat1")
			return ok && m.State == "disabled"
		})
	}
}

func TestClusterLateJoinerGetsFullCopyBeforeReady(t *testing.T) {
	ns := startMesh(t, "a", "b")
	a, b := ns[0], ns[1]
	const n = 20000
	now := time.Now()
	for i := range n {
		a.Set("app", fmt.Sprintf("sess-%d", i), fmt.Sprintf("t%d", i%4), now)
	}
	a.SetMemberState("app", "t1", "stopped", now)
	testpeers.WaitUntil(t, 5*time.Second, "b has the table", func() bool { return b.Len() == n })

	c := startNode(t, fastConfig("c", key1))
	select {
	case <-c.Ready():
		t.Fatal("c ready before it was given peers")
	default:
	}
	mesh(a, b, c)
	waitReady(t, c)
	// Ready means the copy is complete: no waiting here.
	if got := c.Len(); got != n {
		t.Fatalf("c.Len() when ready = %d; want %d", got, n)
	}
	if m, ok := c.MemberState("app", "t1"); !ok || m.State != "stopped" {
		t.Errorf("c member state when ready = %+v, %v; want stopped", m, ok)
	}
	for i := 0; i < n; i += 997 {
		k := fmt.Sprintf("sess-%d", i)
		if r, ok := c.Get("app", k, now); !ok || r != fmt.Sprintf("t%d", i%4) {
			t.Errorf("c.Get(%s) = %q, %v", k, r, ok)
		}
	}
}

func TestClusterRestartConverges(t *testing.T) {
	ns := startMesh(t, "a", "b", "c")
	a, b, c := ns[0], ns[1], ns[2]
	for i := range 100 {
		c.Set("app", fmt.Sprintf("before-%d", i), "t1", time.Now())
	}
	testpeers.WaitUntil(t, 5*time.Second, "a and b have c's writes", func() bool { return a.Len() == 100 && b.Len() == 100 })

	c.stop(t)
	for i := range 100 {
		a.Set("app", fmt.Sprintf("during-%d", i), "t2", time.Now())
	}
	testpeers.WaitUntil(t, 5*time.Second, "b has a's writes", func() bool { return b.Len() == 200 })
	// Restart c with an empty table at a new address, as after kill -9.
	c2 := startNode(t, fastConfig("c", key1))
	mesh(a, b, c2)
	waitReady(t, c2)
	if got := c2.Len(); got != 200 {
		t.Errorf("restarted c has %d entries when ready; want 200", got)
	}
	c2.Set("app", "after", "t3", time.Now())
	testpeers.WaitUntil(t, 5*time.Second, "a sees the restarted node's write", func() bool {
		_, ok := a.Get("app", "after", time.Now())
		return ok
	})
}

func TestClusterPartitionHeals(t *testing.T) {
	ns := startMesh(t, "a", "b", "c")
	a, b, c := ns[0], ns[1], ns[2]

	// Partition c away, as membership would when it stops hearing from it.
	a.SetPeers([]Peer{a.peer(), b.peer()})
	b.SetPeers([]Peer{a.peer(), b.peer()})
	c.SetPeers([]Peer{c.peer()})
	testpeers.WaitUntil(t, 5*time.Second, "partition in effect", func() bool {
		return a.Stats().Connected == 1 && b.Stats().Connected == 1 && c.Stats().Connected == 0
	})
	now := time.Now()
	for i := range 300 {
		a.Set("app", fmt.Sprintf("maj-%d", i), "t1", now)
		c.Set("app", fmt.Sprintf("min-%d", i), "t2", now)
	}
	// Both sides re-pin the same session differently; c writes later.
	a.Set("app", "contested", "t1", now)
	time.Sleep(5 * time.Millisecond)
	c.Set("app", "contested", "t2", time.Now())
	c.SetMemberState("app", "t1", "disabled", time.Now())
	time.Sleep(50 * time.Millisecond)
	if _, ok := a.Get("app", "min-0", now); ok {
		t.Fatal("a saw c's write through the partition")
	}

	mesh(a, b, c)
	for _, n := range []*node{a, b, c} {
		// Writes made during the partition are repaired once older than
		// digestSettle.
		testpeers.WaitUntil(t, 8*time.Second, n.name+" converged", func() bool {
			r, _ := n.Get("app", "contested", time.Now())
			m, _ := n.MemberState("app", "t1")
			return n.Len() == 601 && r == "t2" && m.State == "disabled"
		})
	}
	full := func(n *node) [numShards]uint64 { return *n.digests(digestWindow(0, true)) }
	if full(a) != full(c) || full(b) != full(c) {
		t.Error("digests differ after healing")
	}
}

// Each node's counters snapshot reaches every peer, over the authenticated
// channel, and a peer that stops sending drops out.
func TestClusterPeerStats(t *testing.T) {
	ns := startMesh(t, "a", "b", "c")
	a, b, c := ns[0], ns[1], ns[2]
	var aCount atomic.Int64
	a.SetStatsSource(func() []byte { return fmt.Appendf(nil, "a=%d", aCount.Add(1)) })
	b.SetStatsSource(func() []byte { return []byte("b") })
	c.SetStatsSource(func() []byte { return make([]byte, MaxStatsBytes+1) }) // too large: not sent
	testpeers.WaitUntil(t, 5*time.Second, "c holds a's and b's snapshots", func() bool {
		got := c.PeerStats(time.Minute)
		return strings.HasPrefix(string(got["a"]), "a=") && string(got["b"]) == "b" && len(got) == 2
	})
	if got := a.PeerStats(time.Minute); string(got["b"]) != "b" || got["c"] != nil {
		t.Errorf("a's peer stats = %q; want b's snapshot and nothing from c (over MaxStatsBytes)", got)
	}
	// Snapshots are refreshed, not kept from the first one.
	first := string(c.PeerStats(time.Minute)["a"])
	testpeers.WaitUntil(t, 5*time.Second, "a newer snapshot of a on c", func() bool {
		return string(c.PeerStats(time.Minute)["a"]) != first
	})
	// a stops sending: after maxAge it is gone from c's view.
	a.SetStatsSource(nil)
	testpeers.WaitUntil(t, 5*time.Second, "a's snapshot aged out on c", func() bool {
		_, ok := c.PeerStats(300 * time.Millisecond)["a"]
		return !ok
	})
}

func TestClusterWrongKeyRejected(t *testing.T) {
	var logs testpeers.Buffer
	cfgA := fastConfig("a", key1)
	cfgA.Logger = zerolog.New(&logs).Level(zerolog.DebugLevel)
	a := startNode(t, cfgA)
	cfgX := fastConfig("x", key2)
	x := startNode(t, cfgX)
	cfgP := fastConfig("p") // no key at all
	p := startNode(t, cfgP)
	mesh(a, x, p)
	x.Set("app", "s1", "evil", time.Now())
	p.Set("app", "s2", "evil", time.Now())
	a.Set("app", "s3", "t1", time.Now())

	testpeers.WaitUntil(t, 3*time.Second, "a rejects several attempts and logs it", func() bool {
		return a.Stats().AuthFailures >= 4 && strings.Contains(logs.String(), "not authenticated")
	})
	if a.Len() != 1 || x.Len() != 1 || p.Len() != 1 {
		t.Errorf("entries crossed: Len() a=%d x=%d p=%d; want 1 each", a.Len(), x.Len(), p.Len())
	}
	// Logged once per peer: on a, once for 127.0.0.1 (inbound from both),
	// once each for x and p (outbound).
	if n := strings.Count(logs.String(), "not authenticated"); n < 1 || n > 3 {
		t.Errorf("rejections logged %d times; want once per peer (1 to 3):\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "s1") {
		t.Error("a session key reached the log")
	}
}

func TestClusterKeyRotation(t *testing.T) {
	// Mid-rotation: a already sends with the new key, b still with the old
	// one; each accepts both.
	a := startNode(t, fastConfig("a", key2, key1))
	b := startNode(t, fastConfig("b", key1, key2))
	mesh(a, b)
	waitReady(t, a, b)
	a.Set("app", "s1", "t1", time.Now())
	b.Set("app", "s2", "t2", time.Now())
	testpeers.WaitUntil(t, 5*time.Second, "both see both", func() bool { return a.Len() == 2 && b.Len() == 2 })
	if f := a.Stats().AuthFailures + b.Stats().AuthFailures; f != 0 {
		t.Errorf("auth failures during rotation = %d; want 0", f)
	}
}

func TestReadyWithoutPeers(t *testing.T) {
	a := startNode(t, fastConfig("a", key1))
	a.SetPeers(nil)
	waitReady(t, a)
	// A node whose peers are all unreachable is ready after SyncTimeout.
	cfg := fastConfig("b", key1)
	cfg.SyncTimeout = 300 * time.Millisecond
	b := startNode(t, cfg)
	b.SetPeers([]Peer{{Name: "gone", Addr: "127.0.0.1:1"}})
	start := time.Now()
	waitReady(t, b)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("ready after %v with no reachable peer; want about SyncTimeout", d)
	}
}
