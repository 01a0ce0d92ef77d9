package proxy

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/membership"
)

func TestCompareShapes(t *testing.T) {
	here := balancerShapes{"shop-1": {"t1", "t2", "t3"}, "api": {"a"}, "same": {"x"}}
	for _, tc := range []struct {
		name  string
		there balancerShapes
		want  []string // balancer: differs
	}{
		{name: "agree", there: balancerShapes{"shop-1": {"t1", "t2", "t3"}, "api": {"a"}, "same": {"x"}}},
		{name: "extra member on the peer", there: balancerShapes{"shop-1": {"t1", "t2", "t3", "t4"}, "api": {"a"}, "same": {"x"}},
			want: []string{"shop-1: members only on the peer: t4"}},
		{name: "members on both sides", there: balancerShapes{"shop-1": {"t1", "t9"}, "api": {"a"}, "same": {"x"}},
			want: []string{"shop-1: members only on this node: t2, t3; members only on the peer: t9"}},
		{name: "renamed balancer", there: balancerShapes{"http://10.0.1.6:80-1": {"t1", "t2", "t3"}, "api": {"a"}, "same": {"x"}},
			want: []string{"http://10.0.1.6:80-1: only on the peer", "shop-1: only on this node"}},
		{name: "no balancers on the peer", there: balancerShapes{},
			want: []string{"api: only on this node", "same: only on this node", "shop-1: only on this node"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, m := range compareShapes("p2", here, tc.there) {
				if m.Peer != "p2" {
					t.Errorf("mismatch %+v names peer %q; want p2", m, m.Peer)
				}
				got = append(got, m.Balancer+": "+m.Differs)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("compareShapes(here, %v) = %q; want %q", tc.there, got, tc.want)
			}
		})
	}
}

// TestBalancerDigest: the digest covers balancer names and member names,
// not URLs or the order members are written in, and is never 0 (the
// metadata's "not reported").
func TestBalancerDigest(t *testing.T) {
	digest := func(src string) uint64 {
		t.Helper()
		cfg, err := config.Parse("Caddyfile", []byte(src))
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		return BalancerDigest(cfg)
	}
	base := digest("http://10.0.1.5:80 {\n\treverse_proxy a=http://10.0.2.1:8080 b=http://10.0.2.2:8080\n}\n")
	if base == 0 {
		t.Fatal("BalancerDigest = 0; want non-zero")
	}
	for _, tc := range []struct {
		name, src string
		same      bool
	}{
		{name: "other listen address", src: "http://10.0.1.6:81 {\n\treverse_proxy a=http://10.0.2.1:8080 b=http://10.0.2.2:8080\n}\n", same: true},
		{name: "members in another order, other URLs", src: "http://10.0.1.6:80 {\n\treverse_proxy b=http://192.168.0.2:80 a=http://192.168.0.1:80\n}\n", same: true},
		{name: "extra member", src: "http://10.0.1.5:80 {\n\treverse_proxy a=http://10.0.2.1:8080 b=http://10.0.2.2:8080 c=http://10.0.2.3:8080\n}\n"},
		{name: "other name", src: "http://shop:80 {\n\treverse_proxy a=http://10.0.2.1:8080 b=http://10.0.2.2:8080\n}\n"},
		{name: "member renamed", src: "http://10.0.1.5:80 {\n\treverse_proxy a=http://10.0.2.1:8080 c=http://10.0.2.2:8080\n}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := digest(tc.src); (got == base) != tc.same {
				t.Errorf("BalancerDigest(%q) = %x, base %x; want same %v", tc.src, got, base, tc.same)
			}
		})
	}
	// Names end where the next begins: ("ab", "c") is not ("a", "bc").
	if x, y := (balancerShapes{"ab": {"c"}}).digest(), (balancerShapes{"a": {"bc"}}).digest(); x == y {
		t.Errorf("digest of ab/c = digest of a/bc = %x", x)
	}
}

// TestSnapshotLeavesDiscoveredOut: members found through discover cluster
// are marked in the counters snapshot and left out of the comparison (they
// come from the same gossip on every proxy); snapshots of older releases,
// without the mark, still decode.
func TestSnapshotLeavesDiscoveredOut(t *testing.T) {
	var snap counterSnapshot
	if err := json.Unmarshal([]byte(`{"app":{"static":{"r":3,"c":{}},"node-a":{"c":{},"d":true}},"old":{"x":{"r":1,"c":{}}}}`), &snap); err != nil {
		t.Fatal(err)
	}
	got := shapesFromSnapshot(snap)
	if !slices.Equal(got["app"], []string{"static"}) || !slices.Equal(got["old"], []string{"x"}) || len(got) != 2 {
		t.Errorf("shapesFromSnapshot = %v; want app: [static], old: [x]", got)
	}
}

func proxyMember(name string, digest uint64) membership.Member {
	return membership.Member{Name: name, Addr: netip.MustParseAddrPort("127.0.0.1:7946"),
		Meta: membership.Meta{Role: membership.RoleProxy, Healthy: true, BalancerDigest: digest}}
}

// TestCheckAgreementReports: a peer whose balancers differ is reported at
// once from its digest, then with the balancer and members from its
// counters, each change logged once (not once per check), on the status
// read model behind the page, /api/status and /metrics; agreement again is logged and
// clears the report.
func TestCheckAgreementReports(t *testing.T) {
	src := "{\n\tadmin 127.0.0.1:0\n\tcluster c {\n\t\tbind 127.0.0.1:0\n\t}\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy t1=http://127.0.0.1:1 t2=http://127.0.0.1:2\n}\n"
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testpeers.Buffer{}
	self := proxyMember("p1", BalancerDigest(cfg))
	s, err := New(cfg, Options{Logger: zerolog.New(logs), Cluster: &fixedView{v: &membership.View{Self: self, Members: []membership.Member{self}}, ch: make(chan struct{})}})
	if err != nil {
		t.Fatal(err)
	}
	here := s.shapes()
	if !slices.Equal(here["default-1"], []string{"t1", "t2"}) {
		t.Fatalf("shapes = %v; want default-1: [t1 t2]", here)
	}
	var reported map[string][]ConfigMismatch
	var snaps map[string]counterSnapshot
	check := func(peers ...membership.Member) {
		v := &membership.View{Self: self, Members: append([]membership.Member{self}, peers...)}
		reported = s.checkAgreement(v, here, func() map[string]counterSnapshot { return snaps }, reported)
	}
	warns := func() []string {
		var out []string
		for line := range strings.Lines(logs.String()) {
			var e struct{ Level, Message, Peer, Balancer, Differs string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Level == "warn" {
				out = append(out, e.Peer+"|"+e.Balancer+"|"+e.Differs)
			}
		}
		return out
	}

	// Same digest, and a peer that reports none (an older release): nothing.
	check(proxyMember("p2", self.Meta.BalancerDigest), proxyMember("p3", 0))
	if got := s.mismatches(); len(got) != 0 || len(warns()) != 0 {
		t.Fatalf("agreeing peers: mismatches %+v, warnings %q; want none", got, warns())
	}

	// p2 reloads with another member: its digest says so before its counters.
	p2 := proxyMember("p2", 0x1234)
	check(p2)
	check(p2)
	if got := s.mismatches(); len(got) != 1 || got[0].Peer != "p2" || got[0].Balancer != "" {
		t.Fatalf("mismatches from the digest = %+v; want one for p2 without a balancer", got)
	}
	if w := warns(); len(w) != 1 || !strings.HasPrefix(w[0], "p2||") {
		t.Fatalf("warnings = %q; want one for p2 (not one per check)", w)
	}

	// Its counters arrive: which balancer, which members.
	snaps = map[string]counterSnapshot{"p2": {"default-1": {"t1": {}, "t2": {}, "t3": {}, "agent": {Discovered: true}}}}
	check(p2)
	check(p2)
	want := ConfigMismatch{Peer: "p2", Balancer: "default-1", Differs: "members only on the peer: t3", MembersOnlyOnPeer: []string{"t3"}}
	if got := s.mismatches(); len(got) != 1 || got[0].Balancer != want.Balancer || got[0].Differs != want.Differs || !slices.Equal(got[0].MembersOnlyOnPeer, want.MembersOnlyOnPeer) {
		t.Fatalf("mismatches = %+v; want [%+v]", got, want)
	}
	if w := warns(); len(w) != 2 || w[1] != "p2|default-1|members only on the peer: t3" {
		t.Fatalf("warnings = %q; want a second one naming default-1 and t3", w)
	}

	// The read model says it too (the status page, /api/status and
	// /metrics show what Status holds: see package admin's tests).
	if st := s.Status(); st.Cluster == nil || len(st.Cluster.ConfigMismatches) != 1 || st.Cluster.ConfigMismatches[0].Balancer != "default-1" {
		t.Errorf("Status().Cluster = %+v; want config_mismatches for default-1", st.Cluster)
	}
	if data, _ := json.Marshal(s.Status()); !strings.Contains(string(data), `"config_mismatches":[{"peer":"p2","balancer":"default-1","differs":"members only on the peer: t3","members_only_on_peer":["t3"]}]`) {
		t.Errorf("/api/status JSON = %s; want cluster.config_mismatches", data)
	}

	// p2 goes back to this node's balancers: one info line, nothing reported.
	check(proxyMember("p2", self.Meta.BalancerDigest))
	if got := s.mismatches(); len(got) != 0 {
		t.Errorf("mismatches after p2 agrees = %+v; want none", got)
	}
	if !strings.Contains(logs.String(), "balancers agree with the peer's again") {
		t.Errorf("no log line when p2 agreed again:\n%s", logs.String())
	}
	if st := s.Status(); len(st.Cluster.ConfigMismatches) != 0 {
		t.Errorf("Status() after agreement still reports %+v", st.Cluster.ConfigMismatches)
	}
}

// metaView is a cluster view that also takes metadata, as
// membership.Cluster does.
type metaView struct {
	fixedView
	mu   sync.Mutex
	meta membership.Meta
}

func (m *metaView) Meta() membership.Meta {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meta
}

func (m *metaView) SetMeta(meta membership.Meta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta = meta
	return nil
}

// TestDigestAdvertisedAfterReload: Serve keeps the advertised digest that
// of the running balancers, so peers see a reload's change at once.
func TestDigestAdvertisedAfterReload(t *testing.T) {
	src := func(members string) string {
		return "{\n\tadmin off\n\tcluster c {\n\t\tbind 127.0.0.1:0\n\t}\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy " + members + "\n}\n"
	}
	self := proxyMember("p1", 0)
	view := &metaView{fixedView: fixedView{v: &membership.View{Self: self, Members: []membership.Member{self}}, ch: make(chan struct{}, 1)}}
	cfg1, err := config.Parse("Caddyfile", []byte(src("a=http://127.0.0.1:1")))
	if err != nil {
		t.Fatal(err)
	}
	cfg2, err := config.Parse("Caddyfile", []byte(src("a=http://127.0.0.1:1 b=http://127.0.0.1:2")))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := startProxyOpts(t, src("a=http://127.0.0.1:1"), Options{Logger: zerolog.New(t.Output()), Cluster: view}, nil)
	testpeers.WaitUntil(t, 5*time.Second, "the running balancers' digest advertised", func() bool { return view.Meta().BalancerDigest == BalancerDigest(cfg1) })
	if err := s.Reload(cfg2); err != nil {
		t.Fatal(err)
	}
	testpeers.WaitUntil(t, 5*time.Second, "the reloaded balancers' digest advertised", func() bool { return view.Meta().BalancerDigest == BalancerDigest(cfg2) })
}
