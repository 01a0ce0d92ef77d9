package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestAgentsFindProxiesByEC2Tag is an Auto Scaling group on moto: two
// proxies and two agents that know no address, only an EC2 tag. The
// proxies' instances are tagged tether-role=proxy and have loopback
// private addresses (testpeers.LoopbackVPC), where the proxies bind their
// gossip; the proxies find each other by that tag, and so do the agents,
// one configured by --discover flags, one by a Caddyfile agent block. Both
// backends become members of both proxies and receive their sessions.
func TestAgentsFindProxiesByEC2Tag(t *testing.T) {
	needBinaries(t)
	moto, err := testpeers.StartMoto()
	if err != nil {
		t.Fatalf("moto_server: %v", err)
	}
	t.Cleanup(moto.Stop)
	moto.AWSEnv(t.Setenv) // inherited by the processes: test credentials, no real account
	vpc, err := moto.NewLoopbackVPC(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	key := "yLqmoAxsEavMcO8c6lmmE2HhL9Lm1w8Kv8R8dRk0ZrU="
	port, err := testpeers.FreePort() // gossip; replication takes port+1
	if err != nil {
		t.Fatal(err)
	}
	discover := fmt.Sprintf("discover ec2 {\n\t\t\ttag tether-role=proxy\n\t\t\tport %d\n\t\t\tregion us-east-1\n\t\t\tendpoint %s\n\t\t}", port, moto.URL)

	var proxies []readyInfoCluster
	for i, host := range []int{10, 11} {
		if _, err := vpc.Run(t.Context(), host, map[string]string{"tether-role": "proxy", "aws:autoscaling:groupName": "tether"}); err != nil {
			t.Fatal(err)
		}
		bind := net.JoinHostPort(vpc.Prefix+strconv.Itoa(host), strconv.Itoa(port))
		cfg := fmt.Sprintf(`{
	admin 127.0.0.1:0
	log {
		level warn
	}
	cluster asg {
		bind %s
		gossip_key %s
		profile lan
		%s
	}
}
http://127.0.0.1:0 {
	reverse_proxy {
		name app
		discover cluster app
	}
}
`, bind, key, discover)
		path := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		var r readyInfoCluster
		p := start(t, tetherBin, []string{"run", "-c", path, "--node-name", fmt.Sprintf("proxy%d", i+1)}, "--ready-file", &r)
		p.addr = r.Listeners[0].Addr
		proxies = append(proxies, r)
	}
	b1, b2 := startBackend(t, "tomcat1"), startBackend(t, "tomcat2")

	// Agent 1: flags only.
	var r1 struct{ Addr string }
	start(t, tetherBin, []string{"agent", "--cluster", "asg", "--name", "agent1", "--bind", "127.0.0.1:0", "--gossip-key", key,
		"--discover", fmt.Sprintf("ec2 tag=tether-role=proxy port=%d region=us-east-1 endpoint=%s", port, moto.URL),
		"--service", "app", "--route", "tomcat1", "--url", "http://" + b1.addr, "--health-uri", "/health", "--health-interval", "200ms"},
		"--ready-file", &r1)
	// Agent 2: a Caddyfile agent block; the command line adds the name.
	block := filepath.Join(t.TempDir(), "agent.Caddyfile")
	os.WriteFile(block, []byte(fmt.Sprintf(`{
	agent asg {
		bind 127.0.0.1:0
		gossip_key %s
		%s
		service app
		route tomcat2
		url http://%s
		health_uri /health
		health_interval 200ms
	}
}
`, key, discover, b2.addr)), 0o644)
	var r2 struct{ Addr string }
	start(t, tetherBin, []string{"agent", "-c", block, "--name", "agent2"}, "--ready-file", &r2)

	both := []string{"tomcat1", "tomcat2"}
	begin := time.Now()
	for _, p := range proxies {
		testpeers.WaitUntil(t, 30*time.Second, "both agents' backends routable on "+p.Admin, func() bool { return slices.Equal(routable(t, p.Admin), both) })
		if got := clusterMembers(t, p.Admin); !slices.Equal(got, []string{"agent1", "agent2", "proxy1", "proxy2"}) {
			t.Errorf("cluster seen by %s = %q; want both agents and both proxies", p.Admin, got)
		}
	}
	t.Logf("agents found the proxies by EC2 tag: routable on both proxies %v after the second agent was ready", time.Since(begin).Round(time.Millisecond))
	for _, p := range proxies {
		for _, route := range both {
			if code, got := mustGet(t, "http://"+p.Listeners[0].Addr+"/", "JSESSIONID=x."+route); code != 200 || got != route {
				t.Errorf("session of %s through %s: %d from %q", route, p.Listeners[0].Addr, code, got)
			}
		}
		seen := map[string]bool{}
		for range 6 {
			_, got := mustGet(t, "http://"+p.Listeners[0].Addr+"/", "")
			seen[got] = true
		}
		if !seen["tomcat1"] || !seen["tomcat2"] {
			t.Errorf("new sessions through %s went to %v; want both backends", p.Listeners[0].Addr, seen)
		}
	}
}
