package main

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestAgentsOnOneHost is issue 16's fourth acceptance: two agents on one
// host (a vertical cluster: two backends with different routes) join
// without --name, under default names that differ (the host name and the
// route), and both receive traffic; a third agent given a name a member
// already has is refused at join with an error that says so, instead of
// running ignored.
func TestAgentsOnOneHost(t *testing.T) {
	needBinaries(t)
	key := "yLqmoAxsEavMcO8c6lmmE2HhL9Lm1w8Kv8R8dRk0ZrU="
	p1, r1 := startClusterProxy(t, "proxy1", key, "")
	for _, route := range []string{"tomcat1", "tomcat2"} {
		b := startBackend(t, route)
		startAgent(t, "", key, r1.Gossip, route, "http://"+b.addr)
	}
	testpeers.WaitUntil(t, 15*time.Second, "both backends routable", func() bool {
		return slices.Equal(routable(t, r1.Admin), []string{"tomcat1", "tomcat2"})
	})
	host, _ := os.Hostname()
	members := clusterMembers(t, r1.Admin)
	t.Logf("cluster members: %v", members)
	for _, want := range []string{host + "-tomcat1", host + "-tomcat2"} {
		if !slices.Contains(members, want) {
			t.Errorf("cluster members %v; want %s (the host name and the route)", members, want)
		}
	}
	seen := map[string]int{}
	for range 10 {
		code, body := mustGet(t, "http://"+p1.addr+"/", "")
		if code != 200 {
			t.Fatalf("GET through proxy1: %d", code)
		}
		seen[strings.TrimSpace(body)]++
	}
	t.Logf("10 new requests: %v", seen)
	if seen["tomcat1"] == 0 || seen["tomcat2"] == 0 {
		t.Errorf("10 new requests went to %v; want both backends", seen)
	}

	// A third agent with the name the first one has: refused, loudly.
	b3 := startBackend(t, "tomcat3")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tetherBin, "agent", "--cluster", "e2e", "--bind", "127.0.0.1:0", "--join", r1.Gossip,
		"--gossip-key", key, "--service", "app", "--route", "tomcat3", "--url", "http://"+b3.addr, "--name", host+"-tomcat1")
	cmd.Env = append(os.Environ(), "TETHER_DATA="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("third agent named %s-tomcat1: %v\n%s", host, err, tail(string(out), 2048))
	if ctx.Err() != nil {
		t.Fatalf("the agent with a taken name kept running")
	}
	if err == nil || !strings.Contains(string(out), `the name "`+host+`-tomcat1" is already used by the member at`) {
		t.Errorf("agent with a taken name: %v; want it to exit with the name-taken error", err)
	}
	if slices.Contains(routable(t, r1.Admin), "tomcat3") {
		t.Errorf("the refused agent's backend is routable")
	}
}
