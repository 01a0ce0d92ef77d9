package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/proxy"
)

// clusterGlobal is the global block of a proxy in cluster name: admin on a
// free port, warnings only, gossip on loopback joining seed ("" for the
// first proxy); extra goes into the cluster block.
func clusterGlobal(name, key, seed, profile, extra string) string {
	discover := ""
	if seed != "" {
		discover = "\t\tdiscover static " + seed + "\n"
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:0
	log {
		level warn
	}
	cluster %s {
		bind 127.0.0.1:0
		gossip_key %s
		profile %s
%s%s	}
}
`, name, key, profile, discover, extra)
}

// clusterProxyConfig is a proxy in cluster "e2e" whose only balancer takes
// its members from the cluster's "app" service.
func clusterProxyConfig(key, seed string) string {
	return clusterGlobal("e2e", key, seed, "lan", "") + `
http://127.0.0.1:0 {
	reverse_proxy {
		name app
		discover cluster app
	}
}
`
}

func startClusterProxy(t *testing.T, name, key, seed string) (*proc, readyInfoCluster) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(clusterProxyConfig(key, seed)), 0o644); err != nil {
		t.Fatal(err)
	}
	var r readyInfoCluster
	p := start(t, tetherBin, []string{"run", "-c", path, "--node-name", name}, "--ready-file", &r)
	p.addr = r.Listeners[0].Addr
	return p, r
}

type readyInfoCluster struct {
	Admin, Gossip string
	Listeners     []struct{ Addr string }
}

// startAgent starts "tether agent" beside a backend; name "" leaves the
// member name to its default.
func startAgent(t *testing.T, name, key, seed, route, url string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"agent", "--cluster", "e2e", "--bind", "127.0.0.1:0", "--join", seed,
		"--gossip-key", key, "--service", "app", "--route", route, "--url", url, "--health-uri", "/health",
		"--health-interval", "200ms", "--drain-delay", "100ms"}, extra...)
	if name != "" {
		args = append(args, "--name", name)
	}
	var r struct{ Addr string }
	p := start(t, tetherBin, args, "--ready-file", &r)
	p.addr = r.Addr
	return p
}

func status(t *testing.T, admin string) proxy.Status {
	t.Helper()
	resp, err := client.Get("http://" + admin + "/api/status")
	if err != nil {
		t.Fatalf("status of %s: %v", admin, err)
	}
	defer resp.Body.Close()
	var st proxy.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("status of %s: %v", admin, err)
	}
	return st
}

// routable lists the balancer members a proxy would send new requests to.
func routable(t *testing.T, admin string) []string {
	var out []string
	for _, m := range status(t, admin).Balancers[0].Members {
		if m.State == "active" && m.Healthy {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

func clusterMembers(t *testing.T, admin string) []string {
	var out []string
	if c := status(t, admin).Cluster; c != nil {
		for _, m := range c.Members {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

func TestClusterDiscoveryAcrossProcesses(t *testing.T) {
	needBinaries(t)
	key := "yLqmoAxsEavMcO8c6lmmE2HhL9Lm1w8Kv8R8dRk0ZrU="
	p1, r1 := startClusterProxy(t, "proxy1", key, "")
	_, r2 := startClusterProxy(t, "proxy2", key, r1.Gossip)
	p3, r3 := startClusterProxy(t, "proxy3", key, r1.Gossip)
	admins := []string{r1.Admin, r2.Admin, r3.Admin}

	agents := map[string]*proc{}
	for _, route := range []string{"tomcat1", "tomcat2", "tomcat3"} {
		b := startBackend(t, route)
		agents[route] = startAgent(t, "agent-"+route, key, r1.Gossip, route, "http://"+b.addr)
	}
	all := []string{"tomcat1", "tomcat2", "tomcat3"}
	for _, a := range admins {
		testpeers.WaitUntil(t, 15*time.Second, "all three backends routable on "+a, func() bool { return slices.Equal(routable(t, a), all) })
	}
	// Backends joining one proxy before another is no disagreement: members
	// from discover cluster are not compared.
	for _, p := range []*proc{p1, p3} {
		if w := warnLines(p, "balancers differ from a peer's"); len(w) != 0 {
			t.Errorf("a proxy reported balancer mismatches while agents joined: %q", w)
		}
	}
	for _, a := range admins {
		if ms := configMismatches(t, a); len(ms) != 0 {
			t.Errorf("%s reports config mismatches %+v; want none", a, ms)
		}
	}
	for _, route := range all {
		if code, got := mustGet(t, "http://"+p1.addr+"/", "JSESSIONID=x."+route); code != 200 || got != route {
			t.Errorf("session of %s through proxy1: %d from %q", route, code, got)
		}
	}

	// Graceful stop: the agent advertises draining, then leaves.
	t0 := time.Now()
	agents["tomcat3"].cmd.Process.Signal(syscall.SIGTERM)
	for _, a := range admins {
		testpeers.WaitUntil(t, 10*time.Second, "tomcat3 gone after SIGTERM", func() bool { return !slices.Contains(routable(t, a), "tomcat3") })
	}
	gone := time.Since(t0)
	t.Logf("graceful agent stop: out of every proxy's routing in %v", gone.Round(time.Millisecond))
	if gone > time.Second {
		t.Errorf("graceful stop took %v to reach every proxy; want under 1s", gone)
	}

	// kill -9: memberlist's failure detection (lan profile) removes it.
	t0 = time.Now()
	agents["tomcat2"].kill9(t)
	for _, a := range admins {
		testpeers.WaitUntil(t, 20*time.Second, "tomcat2 removed after kill -9", func() bool {
			for _, m := range status(t, a).Balancers[0].Members {
				if m.Name == "tomcat2" {
					return false
				}
			}
			return true
		})
	}
	dead := time.Since(t0)
	t.Logf("agent kill -9: removed from every proxy in %v (lan profile)", dead.Round(time.Millisecond))
	if dead > 10*time.Second {
		t.Errorf("kill -9 took %v to be detected; want under 10s with lan", dead)
	}

	// A member with the wrong key is not admitted.
	bad := startBackend(t, "intruder")
	otherKey := "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
	cmd := exec.Command(tetherBin, "agent", "--cluster", "e2e", "--name", "intruder", "--bind", "127.0.0.1:0", "--join", r1.Gossip,
		"--gossip-key", otherKey, "--service", "app", "--route", "intruder", "--url", "http://"+bad.addr)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	cmd.Process.Kill()
	cmd.Wait()
	for _, a := range admins {
		if slices.Contains(clusterMembers(t, a), "intruder") {
			t.Errorf("a member with another gossip key was admitted by %s", a)
		}
	}
	if !strings.Contains(strings.ToLower(logs.String()), "key") && !strings.Contains(strings.ToLower(logs.String()), "decrypt") {
		t.Errorf("the refused agent's log does not say why:\n%s", logs.String())
	}

	// Partition: proxy3 frozen long enough to be declared dead, then thawed.
	t.Run("partition heals", func(t *testing.T) {
		p3.cmd.Process.Signal(syscall.SIGSTOP)
		testpeers.WaitUntil(t, 20*time.Second, "proxy3 declared dead", func() bool { return !slices.Contains(clusterMembers(t, r1.Admin), "proxy3") })
		p3.cmd.Process.Signal(syscall.SIGCONT)
		t0 := time.Now()
		testpeers.WaitUntil(t, 30*time.Second, "one cluster again", func() bool {
			return slices.Contains(clusterMembers(t, r1.Admin), "proxy3") && slices.Contains(clusterMembers(t, r3.Admin), "proxy1")
		})
		t.Logf("partition healed %v after SIGCONT", time.Since(t0).Round(time.Millisecond))
	})
}
