package membership

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// node is a running Cluster owned by a test.
type node struct {
	*Cluster
	cancel context.CancelFunc
	done   chan struct{}
}

// leave cancels Run (a graceful leave) and waits for it to return.
func (n *node) leave() {
	n.cancel()
	<-n.done
}

// startNode creates and runs a member on 127.0.0.1 with a free port and the
// local profile; mod adjusts the config first.
func startNode(t *testing.T, name string, mod func(*Config)) *node {
	t.Helper()
	cfg := Config{
		Name:    name,
		Cluster: "test",
		Bind:    "127.0.0.1:0",
		Profile: ProfileLocal,
		Meta:    Meta{Role: RoleProxy, Route: name, Healthy: true}, // Cluster filled by New
		Log:     zerolog.New(t.Output()).Level(zerolog.InfoLevel).With().Timestamp().Logger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s) = %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{Cluster: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run(%s) = %v", name, err)
		}
	}()
	t.Cleanup(n.leave)
	return n
}

func static(t *testing.T, addrs ...string) []Provider {
	t.Helper()
	p, err := NewStatic(addrs)
	if err != nil {
		t.Fatal(err)
	}
	return []Provider{p}
}

func names(v *View) []string {
	var out []string
	for _, m := range v.Members {
		out = append(out, m.Name)
	}
	return out
}

// sees reports whether every node's View holds exactly want.
func sees(want []string, nodes ...*node) func() bool {
	return func() bool {
		for _, n := range nodes {
			if !slices.Equal(names(n.View()), want) {
				return false
			}
		}
		return true
	}
}

func threeNodes(t *testing.T, mod func(*Config)) (a, b, c *node) {
	t.Helper()
	a = startNode(t, "a", mod)
	join := func(cfg *Config) {
		cfg.Providers = static(t, a.Addr().String())
		if mod != nil {
			mod(cfg)
		}
	}
	b = startNode(t, "b", join)
	c = startNode(t, "c", join)
	d := testpeers.WaitUntil(t, 15*time.Second, "three members converge", sees([]string{"a", "b", "c"}, a, b, c))
	t.Logf("3 members converged in %v", d)
	return a, b, c
}

func TestThreeMembersConverge(t *testing.T) {
	a, b, c := threeNodes(t, nil)
	for _, n := range []*node{a, b, c} {
		v := n.View()
		if v.Self.Name != n.Name() {
			t.Errorf("%s: View().Self.Name = %q; want %q", n.Name(), v.Self.Name, n.Name())
		}
		m, ok := v.Member("b")
		if !ok || m.Meta.Route != "b" || m.Meta.Role != RoleProxy || !m.Meta.Healthy || m.Meta.Cluster != "test" || m.Addr != b.Addr() {
			t.Errorf("%s: View().Member(b) = %+v, %v; want route b, cluster test, at %v", n.Name(), m, ok, b.Addr())
		}
	}
	if _, ok := a.View().Member("zz"); ok {
		t.Errorf("View().Member(zz) found a member that does not exist")
	}
}

func TestGracefulLeaveSeenQuickly(t *testing.T) {
	a, b, c := threeNodes(t, nil)
	sub, cancel := a.Subscribe()
	defer cancel()
	start := time.Now()
	c.leave()
	left := time.Since(start)
	d := testpeers.WaitUntil(t, 5*time.Second, "leave seen", sees([]string{"a", "b"}, a, b))
	t.Logf("graceful leave: Run returned in %v, seen by both others %v after cancel", left, left+d)
	select {
	case <-sub:
	default:
		t.Errorf("Subscribe channel not notified of the leave")
	}
}

func TestCrashDetectedLocalProfile(t *testing.T) {
	a, b, c := threeNodes(t, nil)
	start := time.Now()
	c.Close() // no leave: the others must detect the failure
	testpeers.WaitUntil(t, 15*time.Second, "crash detected", sees([]string{"a", "b"}, a, b))
	t.Logf("crash detection (local profile, 3 nodes): %v", time.Since(start))
}

func TestCrashDetectedLANProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 5-10s")
	}
	lan := func(cfg *Config) { cfg.Profile = ProfileLAN }
	a, b, c := threeNodes(t, lan)
	start := time.Now()
	c.Close()
	testpeers.WaitUntil(t, 30*time.Second, "crash detected", sees([]string{"a", "b"}, a, b))
	t.Logf("crash detection (lan profile, 3 nodes): %v", time.Since(start))
}

func TestWrongKeyNotAdmitted(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	var logA testpeers.Buffer
	a := startNode(t, "a", func(cfg *Config) {
		cfg.GossipKeys = []string{k1}
		cfg.Log = zerolog.New(&logA)
	})
	b := startNode(t, "b", func(cfg *Config) { cfg.GossipKeys = []string{k2} })
	n, err := b.Join(t.Context(), []string{a.Addr().String()})
	if err == nil || n != 0 {
		t.Fatalf("Join with the wrong key = %d, %v; want 0 and an error", n, err)
	}
	t.Logf("joiner error: %q", err)
	testpeers.WaitUntil(t, 2*time.Second, "a logs why", func() bool { return strings.Contains(logA.String(), "decrypt") })
	for _, n := range []*node{a, b} {
		if got := names(n.View()); len(got) != 1 {
			t.Errorf("%s: members %v; want only itself", n.Name(), got)
		}
	}
	t.Logf("a's log: %s", firstLine(logA.String(), "decrypt"))
}

func firstLine(s, sub string) string {
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func TestRotatedKeysAdmitted(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	// a still sends with k1, b already with k2; each accepts both.
	a := startNode(t, "a", func(cfg *Config) { cfg.GossipKeys = []string{k1, k2} })
	b := startNode(t, "b", func(cfg *Config) {
		cfg.GossipKeys = []string{k2, k1}
		cfg.Providers = static(t, a.Addr().String())
	})
	testpeers.WaitUntil(t, 15*time.Second, "converge during rotation", sees([]string{"a", "b"}, a, b))
}

func TestOtherClusterNotAdmitted(t *testing.T) {
	k, _ := GenerateKey()
	for _, tc := range []struct {
		name string
		keys []string
	}{
		{name: "plaintext"},
		{name: "same key", keys: []string{k}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logA testpeers.Buffer
			a := startNode(t, "a", func(cfg *Config) {
				cfg.GossipKeys = tc.keys
				cfg.Log = zerolog.New(&logA)
			})
			b := startNode(t, "b", func(cfg *Config) {
				cfg.GossipKeys = tc.keys
				cfg.Cluster = "other"
			})
			n, err := b.Join(t.Context(), []string{a.Addr().String()})
			if err == nil || n != 0 {
				t.Fatalf("Join across clusters = %d, %v; want 0 and an error", n, err)
			}
			testpeers.WaitUntil(t, 2*time.Second, "a logs why", func() bool { return strings.Contains(logA.String(), "label") })
			for _, n := range []*node{a, b} {
				if got := names(n.View()); len(got) != 1 {
					t.Errorf("%s: members %v; want only itself", n.Name(), got)
				}
			}
			t.Logf("joiner error: %q; a log: %s", err, firstLine(logA.String(), "label"))
		})
	}
}

func bigMeta() Meta {
	return Meta{Role: RoleBackend, URL: "http://" + strings.Repeat("u", 240), Service: strings.Repeat("s", 200), Domain: strings.Repeat("d", 100)}
}

func TestMetaOverLimit(t *testing.T) {
	_, err := New(Config{Name: "big", Cluster: "test", Bind: "127.0.0.1:0", Profile: ProfileLocal, Meta: bigMeta()})
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("New with %d-byte meta = %v; want ErrMetaTooLarge", len(bigMeta().appendTo(nil)), err)
	}

	a := startNode(t, "a", nil)
	before := a.Meta()
	if err := a.SetMeta(bigMeta()); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("SetMeta(big) = %v; want ErrMetaTooLarge", err)
	}
	if got := a.Meta(); got != before {
		t.Errorf("after a refused SetMeta, Meta() = %+v; want unchanged %+v", got, before)
	}
	if err := a.SetMeta(Meta{Role: RoleProxy, Route: "not.valid"}); err == nil {
		t.Errorf("SetMeta with route %q = nil; want an error", "not.valid")
	}
}

func TestSetMetaPropagates(t *testing.T) {
	a, b, c := threeNodes(t, nil)
	old, _ := c.View().Member("a")
	m := a.Meta()
	m.State, m.Weight, m.Addr = StateDraining, 7, "127.0.0.1:9999"
	start := time.Now()
	if err := a.SetMeta(m); err != nil {
		t.Fatalf("SetMeta = %v", err)
	}
	testpeers.WaitUntil(t, 10*time.Second, "meta propagated", func() bool {
		for _, n := range []*node{b, c} {
			got, _ := n.View().Member("a")
			if got.Meta.State != StateDraining || got.Meta.Weight != 7 || got.Meta.Addr != "127.0.0.1:9999" {
				return false
			}
		}
		return true
	})
	t.Logf("SetMeta seen by both others in %v", time.Since(start))
	got, _ := c.View().Member("a")
	if got.Meta.Version <= old.Meta.Version {
		t.Errorf("Meta.Version after SetMeta = %d; want > %d", got.Meta.Version, old.Meta.Version)
	}
	if self := a.View().Self; self.Meta.State != StateDraining {
		t.Errorf("View().Self.Meta.State = %v; want draining", self.Meta.State)
	}
}

// silentListener accepts connections and never answers: a seed whose
// process hangs, which stalls memberlist's Join for its whole TCP timeout.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestDeadSeedDoesNotStall(t *testing.T) {
	live := startNode(t, "live", nil)
	hung := silentListener(t)
	const joinTimeout = 400 * time.Millisecond
	start := time.Now()
	b := startNode(t, "b", func(cfg *Config) {
		cfg.Profile = ProfileLAN // TCPTimeout 5s: an unbounded join would stall 5s
		cfg.JoinTimeout = joinTimeout
		cfg.Providers = static(t, hung, live.Addr().String())
	})
	select {
	case <-b.Started():
	case <-time.After(3 * time.Second):
		t.Fatalf("first join round not done within 3s with a hung seed")
	}
	took := time.Since(start)
	t.Logf("New+first join round with a hung seed: %v (JoinTimeout %v, TCPTimeout 5s)", took, joinTimeout)
	if took > joinTimeout+time.Second {
		t.Errorf("start-up took %v; want about JoinTimeout %v", took, joinTimeout)
	}
	testpeers.WaitUntil(t, 10*time.Second, "joined the live seed", sees([]string{"b", "live"}, b))
	// Leaving must not wait for the abandoned join either.
	start = time.Now()
	b.leave()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run returned %v after cancel with a hung join in flight; want promptly", d)
	}
}

// mutableProvider is a hand-written Provider whose answer the test changes.
type mutableProvider struct {
	mu    sync.Mutex
	addrs []string
}

func (p *mutableProvider) set(addrs ...string) {
	p.mu.Lock()
	p.addrs = addrs
	p.mu.Unlock()
}

func (p *mutableProvider) Addrs(context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.addrs), nil
}

func TestRejoinMergesTwoClusters(t *testing.T) {
	fast := func(cfg *Config) { cfg.RejoinInterval = 300 * time.Millisecond }
	a := startNode(t, "a", fast)
	pa := &mutableProvider{}
	b := startNode(t, "b", func(cfg *Config) { fast(cfg); cfg.Providers = static(t, a.Addr().String()) })
	c := startNode(t, "c", func(cfg *Config) { fast(cfg); cfg.Providers = []Provider{pa} })
	d := startNode(t, "d", func(cfg *Config) { fast(cfg); cfg.Providers = static(t, c.Addr().String()) })
	testpeers.WaitUntil(t, 15*time.Second, "two clusters form", func() bool {
		return sees([]string{"a", "b"}, a, b)() && sees([]string{"c", "d"}, c, d)()
	})
	start := time.Now()
	pa.set(b.Addr().String()) // discovery now finds the other cluster
	testpeers.WaitUntil(t, 15*time.Second, "clusters merge", sees([]string{"a", "b", "c", "d"}, a, b, c, d))
	t.Logf("merged %v after discovery found the other side", time.Since(start))
}

// TestPartitionHealsByRejoin splits {a,b} from {c,d} until each side has
// forgotten the other (GossipToTheDeadTime), then heals the network: only
// the re-join loop can merge them again, as the control without it shows.
func TestPartitionHealsByRejoin(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rejoin   time.Duration
		wantHeal bool
	}{
		{name: "with re-join loop", rejoin: 500 * time.Millisecond, wantHeal: true},
		{name: "control without re-join", rejoin: time.Hour, wantHeal: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.wantHeal && testing.Short() {
				t.Skip("control case takes ~10s")
			}
			var (
				partitioned atomic.Bool
				mu          sync.Mutex
				sideOf      = make(map[string]int) // gossip address → side 1 or 2
			)
			seeds := &mutableProvider{}
			mod := func(side int) func(*Config) {
				return func(cfg *Config) {
					cfg.RejoinInterval = tc.rejoin
					cfg.Providers = []Provider{seeds}
					cfg.tune = func(c *memberlist.Config) { c.GossipToTheDeadTime = time.Second }
					cfg.drop = func(addr string) bool {
						if !partitioned.Load() {
							return false
						}
						mu.Lock()
						defer mu.Unlock()
						other := sideOf[addr]
						return other != 0 && other != side
					}
				}
			}
			a := startNode(t, "a", mod(1))
			seeds.set(a.Addr().String())
			b := startNode(t, "b", mod(1))
			c := startNode(t, "c", mod(2))
			d := startNode(t, "d", mod(2))
			mu.Lock()
			sideOf[a.Addr().String()], sideOf[b.Addr().String()] = 1, 1
			sideOf[c.Addr().String()], sideOf[d.Addr().String()] = 2, 2
			mu.Unlock()
			testpeers.WaitUntil(t, 15*time.Second, "converge", sees([]string{"a", "b", "c", "d"}, a, b, c, d))
			seeds.set(a.Addr().String(), b.Addr().String(), c.Addr().String(), d.Addr().String())

			partitioned.Store(true)
			took := testpeers.WaitUntil(t, 20*time.Second, "split", func() bool {
				return sees([]string{"a", "b"}, a, b)() && sees([]string{"c", "d"}, c, d)()
			})
			t.Logf("partition detected in %v", took)
			// Stay split past GossipToTheDeadTime, so memberlist forgets the
			// other side and stops gossiping to it.
			time.Sleep(1500 * time.Millisecond)
			start := time.Now()
			partitioned.Store(false)
			if tc.wantHeal {
				testpeers.WaitUntil(t, 15*time.Second, "heal", sees([]string{"a", "b", "c", "d"}, a, b, c, d))
				t.Logf("partition healed %v after the network came back", time.Since(start))
				return
			}
			time.Sleep(3 * time.Second)
			if !sees([]string{"a", "b"}, a, b)() || !sees([]string{"c", "d"}, c, d)() {
				t.Errorf("without re-join the sides merged anyway: a sees %v, c sees %v", names(a.View()), names(c.View()))
			}
		})
	}
}

// TestNameTakenRefused: a node joining with a name a member already has is
// refused on its own side, with an error naming the other member (memberlist
// would otherwise keep running it, ignored by everyone). The member that had
// the name keeps it.
func TestNameTakenRefused(t *testing.T) {
	a := startNode(t, "app-1", nil)
	c, err := New(Config{
		Name: "app-1", Cluster: "test", Bind: "127.0.0.1:0", Profile: ProfileLocal,
		Meta: Meta{Role: RoleBackend, Route: "r2", Healthy: true}, Providers: static(t, a.Addr().String()),
		Log: zerolog.New(t.Output()),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	select {
	case err := <-done:
		nt, ok := errors.AsType[*NameTakenError](err)
		if !ok || nt.Name != "app-1" || nt.Addr != a.Addr().String() {
			t.Fatalf("Run of a second app-1 = %v; want a *NameTakenError naming app-1 at %s", err, a.Addr())
		}
		t.Logf("newcomer's error: %v", err)
	case <-c.Started():
		t.Fatal("a second node named app-1 started; want Run to fail")
	case <-time.After(15 * time.Second):
		t.Fatal("Run of a second app-1 neither failed nor started")
	}
	if got := names(a.View()); !slices.Equal(got, []string{"app-1"}) {
		t.Errorf("first app-1 sees %v; want itself only", got)
	}
}
