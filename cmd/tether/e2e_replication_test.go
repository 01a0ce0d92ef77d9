package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/replication/dynamostore"
)

// The acceptance tests of session replication (issue 6): three proxy
// processes in one cluster, three backend processes, sessions learned from
// Set-Cookie and failover pins, checked request by request.

// replicatedProxyConfig is a proxy of cluster name with two balancers over
// the same backends: /learn/* learns routeless SID sessions, everything
// else sticks by jvmRoute. extraCluster goes into the cluster block.
func replicatedProxyConfig(name, key, seed, members, extraCluster string) string {
	return clusterGlobal(name, key, seed, "local", extraCluster) + fmt.Sprintf(`
http://127.0.0.1:0 {
	reverse_proxy /learn/* {
		name learn
		to %[1]s
		sticky learn SID
		health_uri /health
		health_interval 300ms
		health_timeout 2s
		recover_time 1s
	}
	reverse_proxy {
		name jvm
		to %[1]s
		health_uri /health
		health_interval 300ms
		health_timeout 2s
		recover_time 1s
	}
}
`, members)
}

type replProxy struct {
	name, seed string
	p          *proc
	r          readyInfoCluster
	site       string
}

func startReplProxy(t *testing.T, cluster, name, key, seed, members, extra string) *replProxy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(replicatedProxyConfig(cluster, key, seed, members, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	rp := &replProxy{name: name, seed: seed}
	rp.p = start(t, tetherBin, []string{"run", "-c", path, "--node-name", name}, "--ready-file", &rp.r)
	rp.site = "http://" + rp.r.Listeners[0].Addr
	return rp
}

// startRoutelessBackend runs an app node issuing SID=<id> without a route.
func startRoutelessBackend(t *testing.T, route, addr string) *proc {
	t.Helper()
	var r struct{ Addr string }
	p := start(t, backendBin, []string{"-route", route, "-addr", addr, "-cookie", "SID", "-no-route"}, "-ready-file", &r)
	p.addr = r.Addr
	return p
}

// parallel runs fn(i) for i in [0,n) on 16 workers; the first error stops
// the test.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// getSession sends GET url with a cookie and returns the member that
// answered and the SID it set, if any.
func getSession(url, cookie string) (route, setSID string, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", "", err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("GET %s (%s): %s", url, cookie, resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "SID" {
			setSID = c.Value
		}
	}
	return resp.Header.Get("X-Route"), setSID, nil
}

func sessionEntries(t *testing.T, admin string) int {
	if s := status(t, admin).Sessions; s != nil {
		return s.Entries
	}
	return -1
}

// healthyIn reports whether member is active and healthy in balancer on a
// proxy.
func healthyIn(t *testing.T, admin, balancer, member string) bool {
	for _, b := range status(t, admin).Balancers {
		if b.Name != balancer {
			continue
		}
		for _, m := range b.Members {
			if m.Name == member {
				return m.Healthy && m.State == "active"
			}
		}
	}
	return false
}

func sessionCount(t *testing.T) int {
	if v := os.Getenv("TETHER_E2E_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 10000
}

func TestReplicatedSessionsAcrossProxies(t *testing.T) {
	needBinaries(t)
	n := sessionCount(t)
	key := "yLqmoAxsEavMcO8c6lmmE2HhL9Lm1w8Kv8R8dRk0ZrU="
	backends := map[string]*proc{}
	for _, route := range []string{"tomcat1", "tomcat2", "tomcat3"} {
		backends[route] = startRoutelessBackend(t, route, "127.0.0.1:0")
	}
	members := toArgs(backends)
	p1 := startReplProxy(t, "e2e", "proxy1", key, "", members, "")
	p2 := startReplProxy(t, "e2e", "proxy2", key, p1.r.Gossip, members, "")
	p3 := startReplProxy(t, "e2e", "proxy3", key, p1.r.Gossip, members, "")
	proxies := []*replProxy{p1, p2, p3}
	for _, p := range proxies {
		testpeers.WaitUntil(t, 20*time.Second, p.name+" sees three proxies", func() bool { return len(clusterMembers(t, p.r.Admin)) == 3 })
	}

	// 1. n learned sessions, created through the proxies in turn, each then
	// requested through another proxy than the one that created it.
	sids := make([]string, n)
	owner := make([]string, n)
	t0 := time.Now()
	parallel(t, n, func(i int) error {
		route, sid, err := getSession(proxies[i%3].site+"/learn/", "")
		if err == nil && sid == "" {
			err = fmt.Errorf("session %d: no SID from %s", i, route)
		}
		sids[i], owner[i] = sid, route
		return err
	})
	t.Logf("created %d learned sessions through 3 proxies in %v", n, time.Since(t0).Round(time.Millisecond))
	for _, p := range proxies {
		testpeers.WaitUntil(t, 30*time.Second, p.name+" holds every learned session", func() bool { return sessionEntries(t, p.r.Admin) >= n })
		if s := status(t, p.r.Admin).Sessions; s != nil {
			if s.LagMs != nil {
				t.Logf("%s: %d entries, last replication lag %.1f ms", p.name, s.Entries, *s.LagMs)
			}
		}
	}
	// Lookups go in shuffled order: in creation order, a proxy that
	// balanced an unknown session as new would advance its round robin in
	// step with the proxy that learned it and land on the right member by
	// chance.
	check := func(what string, via func(i int) *replProxy, want func(i int) string, idx []int) {
		t.Helper()
		var bad atomic.Int64
		var example atomic.Value
		order := slices.Clone(idx)
		rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		parallel(t, len(order), func(k int) error {
			i := order[k]
			route, _, err := getSession(via(i).site+"/learn/", "SID="+sids[i])
			if err == nil && route != want(i) {
				if bad.Add(1) == 1 {
					example.Store(fmt.Sprintf("session %d via %s: %s, want %s", i, via(i).name, route, want(i)))
				}
			}
			return err
		})
		t.Logf("%s: %d sessions, %d misrouted", what, len(idx), bad.Load())
		if bad.Load() != 0 {
			t.Errorf("%s: %d of %d misrouted, e.g. %v", what, bad.Load(), len(idx), example.Load())
		}
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	byOwner := func(i int) string { return owner[i] }
	check("learned sessions through another proxy", func(i int) *replProxy { return proxies[(i+1)%3] }, byOwner, all)

	// 2. kill -9 a proxy: the survivors route every session as before; the
	// restarted one is ready only once it holds the table.
	p3.p.kill9(t)
	check("after kill -9 of proxy3, through the survivors", func(i int) *replProxy { return proxies[i%2] }, byOwner, all)
	testpeers.WaitUntil(t, 20*time.Second, "the survivors to see proxy3 gone", func() bool { return len(clusterMembers(t, p1.r.Admin)) == 2 })
	p3 = startReplProxy(t, "e2e", "proxy3", key, p1.r.Gossip, members, "")
	proxies[2] = p3
	if got := sessionEntries(t, p3.r.Admin); got < n {
		t.Errorf("restarted proxy3 reported ready holding %d entries, want %d", got, n)
	} else {
		t.Logf("restarted proxy3 was ready holding %d entries", got)
	}
	check("through the restarted proxy3", func(int) *replProxy { return p3 }, byOwner, all)

	// 3. kill -9 a backend: each of its sessions lands on one member, the
	// same from every proxy, and stays there when the backend returns.
	dead := "tomcat1"
	deadAddr := backends[dead].addr
	jvm := make([]string, n)
	for i := range jvm {
		jvm[i] = fmt.Sprintf("E2E%07d.%s", i, dead)
	}
	var learnedOfDead []int
	for i := range owner {
		if owner[i] == dead {
			learnedOfDead = append(learnedOfDead, i)
		}
	}
	backends[dead].kill9(t)
	type landing struct{ jvm, learn []string }
	first := landing{jvm: make([]string, n), learn: make([]string, n)}
	var disagree, onDead atomic.Int64
	agree := func(kind string, where []string, i int, got string, p *replProxy) {
		if got == dead {
			onDead.Add(1)
		}
		if where[i] == "" {
			where[i] = got
		} else if where[i] != got {
			if disagree.Add(1) == 1 {
				t.Logf("%s session %d: %s via %s, %s before", kind, i, got, p.name, where[i])
			}
		}
	}
	for round, p := range []*replProxy{p2, p3, p1} { // every proxy, each over every session
		parallel(t, n, func(i int) error {
			route, _, err := getSession(p.site+"/app", "JSESSIONID="+jvm[i])
			if err == nil {
				agree("jvmroute", first.jvm, i, route, p)
			}
			return err
		})
		parallel(t, len(learnedOfDead), func(k int) error {
			i := learnedOfDead[k]
			route, _, err := getSession(p.site+"/learn/", "SID="+sids[i])
			if err == nil {
				agree("learned", first.learn, i, route, p)
			}
			return err
		})
		t.Logf("after kill -9 of %s, round %d via %s: %d disagreements, %d on the dead member", dead, round+1, p.name, disagree.Load(), onDead.Load())
	}
	if disagree.Load() != 0 || onDead.Load() != 0 {
		t.Errorf("sessions of the killed %s: %d disagreements between proxies, %d answered by it", dead, disagree.Load(), onDead.Load())
	}
	spread := map[string]int{}
	for _, r := range first.jvm {
		spread[r]++
	}
	t.Logf("%d jvmroute and %d learned sessions of %s failed over; jvmroute spread %v", n, len(learnedOfDead), dead, spread)
	for _, p := range proxies {
		testpeers.WaitUntil(t, 30*time.Second, p.name+" holds every failover pin", func() bool { return sessionEntries(t, p.r.Admin) >= 2*n })
	}

	backends[dead] = startRoutelessBackend(t, dead, deadAddr)
	for _, p := range proxies {
		testpeers.WaitUntil(t, 20*time.Second, p.name+" sees "+dead+" healthy again", func() bool { return healthyIn(t, p.r.Admin, "jvm", dead) })
	}
	var back atomic.Int64
	for _, p := range proxies {
		parallel(t, n, func(i int) error {
			route, _, err := getSession(p.site+"/app", "JSESSIONID="+jvm[i])
			if err == nil && route != first.jvm[i] {
				back.Add(1)
			}
			return err
		})
	}
	check("learned sessions of the returned backend", func(i int) *replProxy { return proxies[i%3] },
		func(i int) string { return first.learn[i] }, learnedOfDead)
	t.Logf("after %s returned: %d of %d jvmroute requests left their failover member", dead, back.Load(), 3*n)
	if back.Load() != 0 {
		t.Errorf("after %s returned, %d requests did not stay on their failover member", dead, back.Load())
	}
	// A new session still reaches the returned member.
	if _, _, err := getSession(p1.site+"/app", "JSESSIONID=FRESH."+dead); err != nil {
		t.Fatal(err)
	}

	// 4. A proxy partitioned away (SIGSTOP) converges when healed.
	if err := p2.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = p2.p.cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	testpeers.WaitUntil(t, 20*time.Second, "proxy1 to see proxy2 gone", func() bool { return len(clusterMembers(t, p1.r.Admin)) == 2 })
	m := n / 10
	during := make([]int, m)
	sids = append(sids, make([]string, m)...)
	owner = append(owner, make([]string, m)...)
	parallel(t, m, func(k int) error {
		i := n + k
		during[k] = i
		via := p1
		if k%2 == 1 {
			via = p3
		}
		route, sid, err := getSession(via.site+"/learn/", "")
		sids[i], owner[i] = sid, route
		return err
	})
	want := sessionEntries(t, p1.r.Admin)
	if err := p2.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	healed := time.Now()
	testpeers.WaitUntil(t, 30*time.Second, "proxy2 to catch up after the partition", func() bool { return sessionEntries(t, p2.r.Admin) >= want })
	t.Logf("partition: %d sessions learned while proxy2 was stopped; proxy2 held all %d entries %v after SIGCONT", m, want, time.Since(healed).Round(time.Millisecond))
	testpeers.WaitUntil(t, 20*time.Second, "one cluster again", func() bool { return len(clusterMembers(t, p1.r.Admin)) == 3 })
	check("sessions learned during the partition, through the healed proxy2", func(int) *replProxy { return p2 }, byOwner, during)
}

func TestDynamoDBStoreAcrossClusters(t *testing.T) {
	needBinaries(t)
	moto, err := testpeers.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	moto.AWSEnv(t.Setenv)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ddb := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(moto.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	if err := dynamostore.CreateTable(ctx, ddb, "tether-sessions"); err != nil {
		t.Fatal(err)
	}
	backends := map[string]*proc{}
	for _, route := range []string{"tomcat1", "tomcat2", "tomcat3"} {
		backends[route] = startRoutelessBackend(t, route, "127.0.0.1:0")
	}
	members := toArgs(backends)
	store := "\t\tstore dynamodb {\n\t\t\ttable tether-sessions\n\t\t\tregion us-east-1\n\t\t\tendpoint " + moto.URL + "\n\t\t}\n"
	// Two clusters (other names, other keys) sharing only the table, as
	// proxies in two regions share a DynamoDB global table.
	east := startReplProxy(t, "east", "east1", "yLqmoAxsEavMcO8c6lmmE2HhL9Lm1w8Kv8R8dRk0ZrU=", "", members, store)
	west := startReplProxy(t, "west", "west1", "c2l4dGVlbiBieXRlIGtleXNpeHRlZW4gYnl0ZSBrZXk=", "", members, store)

	const n = 200
	sids := make([]string, n)
	owner := make([]string, n)
	parallel(t, n, func(i int) error {
		route, sid, err := getSession(east.site+"/learn/", "")
		sids[i], owner[i] = sid, route
		return err
	})
	testpeers.WaitUntil(t, 30*time.Second, "east's writes to reach the table", func() bool {
		out, err := ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("tether-sessions"), Select: "COUNT"})
		return err == nil && int(out.Count) >= n
	})
	if got := sessionEntries(t, west.r.Admin); got != 0 {
		t.Fatalf("west holds %d entries before any request: the clusters are not separate", got)
	}
	var bad atomic.Int64
	parallel(t, n, func(i int) error {
		route, _, err := getSession(west.site+"/learn/", "SID="+sids[i])
		if err == nil && route != owner[i] {
			bad.Add(1)
		}
		return err
	})
	t.Logf("%d sessions learned by cluster east, requested through cluster west: %d misrouted; west now holds %d entries",
		n, bad.Load(), sessionEntries(t, west.r.Admin))
	if bad.Load() != 0 {
		t.Errorf("%d of %d sessions misrouted by the second cluster", bad.Load(), n)
	}
}
