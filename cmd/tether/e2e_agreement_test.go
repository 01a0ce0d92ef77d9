package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// The proxies of a cluster agree on what they share (issue 12, point 11):
// learned sessions, pins and member states are keyed by balancer name, so
// proxies that write their sites with their own addresses must still name
// their balancers alike, and a proxy whose balancers differ says so.

// unnamedProxy is a proxy of cluster e2e serving site (as written) with
// one balancer that has no name.
func unnamedProxyConfig(key, seed, site, body string) string {
	return clusterGlobal("e2e", key, seed, "local", "") + fmt.Sprintf("\n%s {\n\treverse_proxy {\n%s\t}\n}\n", site, body)
}

// startUnnamedProxy runs a proxy with that config, from a file the test
// may rewrite and reload (SIGHUP).
func startUnnamedProxy(t *testing.T, name, key, seed, site, body string) (*replProxy, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(unnamedProxyConfig(key, seed, site, body)), 0o644); err != nil {
		t.Fatal(err)
	}
	rp := &replProxy{name: name, seed: seed}
	rp.p = start(t, tetherBin, []string{"run", "-c", path, "--node-name", name}, "--ready-file", &rp.r)
	rp.site = "http://" + rp.r.Listeners[0].Addr
	return rp, path
}

// TestLearnedSessionsUnnamedBalancers: three proxies whose sites are
// written with their own address and port (http://127.0.0.1:A,
// http://127.0.0.2:B, http://127.0.0.3:C: the old default names
// http://127.0.0.1:A-1 ... all differed), balancers without a name, sticky
// learn over three members. Sessions learned through each proxy, in
// unequal numbers, are looked up through both other proxies in shuffled
// order, so each proxy gets a different number of lookups in an order no
// round robin can follow: every one must reach the member that issued it.
func TestLearnedSessionsUnnamedBalancers(t *testing.T) {
	needBinaries(t)
	key := "yLqmoAxsEavMcO8c6lmmE2HhL9Lm1w8Kv8R8dRk0ZrU="
	backends := map[string]*proc{}
	for _, route := range []string{"tomcat1", "tomcat2", "tomcat3"} {
		backends[route] = startRoutelessBackend(t, route, "127.0.0.1:0")
	}
	body := "\t\tto " + toArgs(backends) + "\n\t\tsticky learn SID\n"
	p1, _ := startUnnamedProxy(t, "proxy1", key, "", "http://127.0.0.1:0", body)
	p2, _ := startUnnamedProxy(t, "proxy2", key, p1.r.Gossip, "http://127.0.0.2:0", body)
	p3, _ := startUnnamedProxy(t, "proxy3", key, p1.r.Gossip, "http://127.0.0.3:0", body)
	proxies := []*replProxy{p1, p2, p3}
	for _, p := range proxies {
		testpeers.WaitUntil(t, 20*time.Second, p.name+" sees three proxies", func() bool {
			return strings.Join(clusterMembers(t, p.r.Admin), ",") == "proxy1,proxy2,proxy3"
		})
	}

	// Learn n sessions: half through proxy1, a third through proxy2, a
	// sixth through proxy3, interleaved at random.
	const n = 450
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 12))
	t.Logf("shuffle seed %d", seed)
	creator := make([]int, n)
	for i := range creator {
		switch {
		case i < n/2:
			creator[i] = 0
		case i < n/2+n/3:
			creator[i] = 1
		default:
			creator[i] = 2
		}
	}
	rng.Shuffle(n, func(i, j int) { creator[i], creator[j] = creator[j], creator[i] })
	sids, owner := make([]string, n), make([]string, n)
	parallel(t, n, func(i int) error {
		route, sid, err := getSession(proxies[creator[i]].site+"/", "")
		if err == nil && sid == "" {
			err = fmt.Errorf("session %d: no SID from %s", i, route)
		}
		sids[i], owner[i] = sid, route
		return err
	})
	for _, p := range proxies {
		testpeers.WaitUntil(t, 30*time.Second, p.name+" holds every learned session", func() bool { return sessionEntries(t, p.r.Admin) >= n })
	}

	// Look every session up through both proxies that did not learn it.
	type lookup struct{ session, via int }
	var lookups []lookup
	perProxy := make([]int, len(proxies))
	for i := range n {
		for v := range proxies {
			if v != creator[i] {
				lookups = append(lookups, lookup{i, v})
				perProxy[v]++
			}
		}
	}
	rng.Shuffle(len(lookups), func(i, j int) { lookups[i], lookups[j] = lookups[j], lookups[i] })
	var bad atomic.Int64
	var example atomic.Value
	parallel(t, len(lookups), func(k int) error {
		l := lookups[k]
		route, _, err := getSession(proxies[l.via].site+"/", "SID="+sids[l.session])
		if err == nil && route != owner[l.session] {
			if bad.Add(1) == 1 {
				example.Store(fmt.Sprintf("session %d learned through %s from %s, looked up through %s: %s",
					l.session, proxies[creator[l.session]].name, owner[l.session], proxies[l.via].name, route))
			}
		}
		return err
	})
	t.Logf("%d sessions learned through 3 proxies; %d lookups through the others (%d, %d, %d via proxy1..3) in shuffled order: %d misrouted",
		n, len(lookups), perProxy[0], perProxy[1], perProxy[2], bad.Load())
	if bad.Load() != 0 {
		t.Errorf("%d of %d lookups of learned sessions misrouted, e.g. %v", bad.Load(), len(lookups), example.Load())
	}

	// The three name the balancer alike, and say they agree.
	for _, p := range proxies {
		var names []string
		for _, b := range status(t, p.r.Admin).Balancers {
			names = append(names, b.Name)
		}
		if strings.Join(names, ",") != "default-1" {
			t.Errorf("%s balancers = %q; want one named default-1", p.name, names)
		}
		if ms := configMismatches(t, p.r.Admin); len(ms) != 0 {
			t.Errorf("%s reports config mismatches %+v; want none", p.name, ms)
		}
	}
}

// mismatch is one entry of /api/status cluster.config_mismatches, decoded
// on its own so the test builds against a proxy without the field.
type mismatch struct {
	Peer              string   `json:"peer"`
	Balancer          string   `json:"balancer"`
	Differs           string   `json:"differs"`
	MembersOnlyHere   []string `json:"members_only_here"`
	MembersOnlyOnPeer []string `json:"members_only_on_peer"`
}

func configMismatches(t *testing.T, admin string) []mismatch {
	t.Helper()
	var st struct {
		Cluster *struct {
			ConfigMismatches []mismatch `json:"config_mismatches"`
		} `json:"cluster"`
	}
	resp, err := client.Get("http://" + admin + "/api/status")
	if err != nil {
		t.Fatalf("status of %s: %v", admin, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("status of %s: %v", admin, err)
	}
	if st.Cluster == nil {
		t.Fatalf("status of %s has no cluster", admin)
	}
	return st.Cluster.ConfigMismatches
}

// warnLines returns the warn-level log lines of p with message msg, as
// "peer|balancer|differs".
func warnLines(p *proc, msg string) []string {
	var out []string
	for line := range strings.Lines(p.logs.String()) {
		var e struct{ Level, Message, Peer, Balancer, Differs string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Level == "warn" && e.Message == msg {
			out = append(out, e.Peer+"|"+e.Balancer+"|"+e.Differs)
		}
	}
	return out
}

func adminGet(t *testing.T, admin, path string) string {
	t.Helper()
	resp, err := client.Get("http://" + admin + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", admin, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: %s %v", admin, path, resp.Status, err)
	}
	return string(body)
}

// TestBalancerMismatchReported: two proxies on their own addresses whose
// (unnamed, so default-1 on both) balancer differs by a member: both log
// it, and proxy1's status page, /api/status and /metrics name proxy2, the
// balancer and the member, within a bounded wait. Once proxy2 is reloaded
// with proxy1's members, both report agreement.
func TestBalancerMismatchReported(t *testing.T) {
	needBinaries(t)
	key := "yLqmoAxsEavMcO8c6lmmE2HhL9Lm1w8Kv8R8dRk0ZrU="
	members := "\t\tto t1=http://127.0.0.1:1 t2=http://127.0.0.1:2"
	p1, _ := startUnnamedProxy(t, "proxy1", key, "", "http://127.0.0.1:0", members+"\n")
	p2, path2 := startUnnamedProxy(t, "proxy2", key, p1.r.Gossip, "http://127.0.0.2:0", members+" t3=http://127.0.0.1:3\n")
	for _, p := range []*replProxy{p1, p2} {
		testpeers.WaitUntil(t, 20*time.Second, p.name+" sees two proxies", func() bool {
			return strings.Join(clusterMembers(t, p.r.Admin), ",") == "proxy1,proxy2"
		})
	}

	const msg = "balancers differ from a peer's"
	want1 := "proxy2|default-1|members only on the peer: t3"
	want2 := "proxy1|default-1|members only on this node: t3"
	has := func(lines []string, s string) bool {
		for _, l := range lines {
			if l == s {
				return true
			}
		}
		return false
	}
	testpeers.WaitUntil(t, 15*time.Second, "both proxies to log the differing member", func() bool {
		return has(warnLines(p1.p, msg), want1) && has(warnLines(p2.p, msg), want2)
	})
	ms := configMismatches(t, p1.r.Admin)
	if len(ms) != 1 || ms[0].Peer != "proxy2" || ms[0].Balancer != "default-1" || strings.Join(ms[0].MembersOnlyOnPeer, ",") != "t3" {
		t.Errorf("proxy1 config_mismatches = %+v; want proxy2, default-1, t3 only on the peer", ms)
	}
	page := adminGet(t, p1.r.Admin, "/?refresh=0")
	for _, frag := range []string{`id="config-mismatches"`, `data-peer="proxy2" data-balancer="default-1"`, "members only on the peer: t3"} {
		if !strings.Contains(page, frag) {
			t.Errorf("proxy1's status page lacks %q", frag)
		}
	}
	if m := adminGet(t, p1.r.Admin, "/metrics"); !strings.Contains(m, `tether_cluster_config_mismatch{balancer="default-1",peer="proxy2"} 1`) {
		t.Errorf("proxy1's /metrics lacks tether_cluster_config_mismatch for proxy2/default-1")
	}

	// proxy2 takes proxy1's members: both agree again.
	if err := os.WriteFile(path2, []byte(unnamedProxyConfig(key, p1.r.Gossip, "http://127.0.0.2:0", members+"\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p2.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*replProxy{p1, p2} {
		testpeers.WaitUntil(t, 15*time.Second, p.name+" to report agreement after the reload", func() bool { return len(configMismatches(t, p.r.Admin)) == 0 })
	}
	if strings.Contains(adminGet(t, p1.r.Admin, "/?refresh=0"), `id="config-mismatches"`) {
		t.Error("proxy1's status page still shows the mismatch after proxy2's reload")
	}
	// Each difference was logged once, not on every check.
	n := 0
	for _, l := range warnLines(p2.p, msg) {
		if l == want2 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("proxy2 logged %q %d times; want once", want2, n)
	}
}
