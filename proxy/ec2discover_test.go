package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/membership"
)

// loopbackBackend serves "hello from NAME" on ip:port until the test ends.
func loopbackBackend(t *testing.T, addr, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Route", name)
		fmt.Fprintf(w, "hello from %s\n", name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// memberNames lists the balancer's members.
func memberNames(s *Server, balancer string) []string {
	var names []string
	for _, b := range s.balancerList() {
		if b.name == balancer {
			for _, m := range b.set.Load().members {
				names = append(names, m.name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// routeOf sends a request with a session routed to route and returns the
// member that answered.
func routeOf(t *testing.T, url, route string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/", nil)
	if route != "" {
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: "ABC123." + route})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Route")
}

// TestDiscoverEC2Balancer: a balancer's members are the running instances
// tagged tether-app=shop on moto, named after their jvmRoute tag and
// reached at their (loopback) private address and the configured port.
// An instance tagged later joins at the next refresh; a terminated one
// leaves at the next refresh; an untagged instance or a member of another
// app never joins; traffic follows.
func TestDiscoverEC2Balancer(t *testing.T) {
	if moto == nil {
		t.Skip("integration test (moto_server); skipped under -short")
	}
	moto.AWSEnv(t.Setenv)
	ctx := t.Context()
	vpc, err := moto.NewLoopbackVPC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	addr := func(host int) string { return net.JoinHostPort(vpc.Prefix+strconv.Itoa(host), strconv.Itoa(port)) }
	for host, name := range map[int]string{10: "tomcat1", 11: "tomcat2", 12: "tomcat3", 13: "other"} {
		loopbackBackend(t, addr(host), name)
	}
	run := func(host int, tags map[string]string) string {
		id, err := vpc.Run(ctx, host, tags)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	id1 := run(10, map[string]string{"tether-app": "shop", "jvmRoute": "tomcat1"})
	run(11, map[string]string{"tether-app": "shop", "jvmRoute": "tomcat2"})
	id3 := run(12, map[string]string{"jvmRoute": "tomcat3"}) // not tagged for the app (yet)
	run(13, map[string]string{"tether-app": "billing", "jvmRoute": "other"})

	const refresh = time.Second
	var logs testpeers.Buffer
	s, url := startProxy(t, fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:0 {
	reverse_proxy {
		name shop
		discover ec2 {
			tag tether-app=shop
			port %d
			name_tag jvmRoute
			refresh %s
			region us-east-1
			endpoint %s
		}
	}
}
`, port, refresh, moto.URL), &logs)
	testpeers.WaitUntil(t, 10*time.Second, "the two tagged instances become members", func() bool {
		return slices.Equal(memberNames(s, "shop"), []string{"tomcat1", "tomcat2"})
	})
	seen := map[string]bool{}
	for range 6 {
		seen[routeOf(t, url, "")] = true
	}
	if !seen["tomcat1"] || !seen["tomcat2"] || len(seen) != 2 {
		t.Errorf("new sessions went to %v; want tomcat1 and tomcat2 only", seen)
	}

	// Tag the third instance: it joins at the next refresh.
	start := time.Now()
	if err := vpc.Tag(ctx, id3, map[string]string{"tether-app": "shop"}); err != nil {
		t.Fatal(err)
	}
	testpeers.WaitUntil(t, 10*refresh, "the newly tagged instance becomes a member", func() bool {
		return slices.Contains(memberNames(s, "shop"), "tomcat3")
	})
	joined := time.Since(start)
	if got := routeOf(t, url, "tomcat3"); got != "tomcat3" {
		t.Errorf("a tomcat3 session went to %q; want tomcat3", got)
	}

	// Terminate the first: it leaves at the next refresh, and its sessions
	// fail over.
	start = time.Now()
	if err := vpc.Terminate(ctx, id1); err != nil {
		t.Fatal(err)
	}
	testpeers.WaitUntil(t, 10*refresh, "the terminated instance stops being a member", func() bool {
		return !slices.Contains(memberNames(s, "shop"), "tomcat1")
	})
	left := time.Since(start)
	if got := memberNames(s, "shop"); !slices.Equal(got, []string{"tomcat2", "tomcat3"}) {
		t.Errorf("members = %q; want tomcat2, tomcat3", got)
	}
	for range 4 {
		if got := routeOf(t, url, "tomcat1"); got == "tomcat1" || got == "" {
			t.Errorf("a tomcat1 session went to %q after tomcat1 terminated; want a failover", got)
		}
	}
	for _, want := range []string{`"member":"tomcat3"`, `"message":"member discovered"`, `"message":"discovered member gone"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
	t.Logf("refresh %v: a newly tagged instance joined after %v, a terminated one left after %v", refresh, joined.Round(time.Millisecond), left.Round(time.Millisecond))
}

// TestEC2MembersNaming: the name tag names a member unless it is missing
// or no route name; the domain tag sets the domain.
func TestEC2MembersNaming(t *testing.T) {
	d := &config.DiscoverEC2{Scheme: "ajp", Port: 8009, NameTag: "jvmRoute", DomainTag: "az", Weight: 2}
	got := ec2Members(d, []membership.Instance{
		{ID: "i-1", Addr: "10.0.0.1:8009", Tags: map[string]string{"jvmRoute": "tomcat1", "az": "a"}},
		{ID: "i-2", Addr: "10.0.0.2:8009"},
		{ID: "i-3", Addr: "10.0.0.3:8009", Tags: map[string]string{"jvmRoute": "bad route/name"}},
	}, zerolog.New(t.Output()))
	want := []config.Member{
		{Name: "tomcat1", URL: "ajp://10.0.0.1:8009", Weight: 2, Domain: "a", State: "active"},
		{Name: "i-2", URL: "ajp://10.0.0.2:8009", Weight: 2, State: "active"},
		{Name: "i-3", URL: "ajp://10.0.0.3:8009", Weight: 2, State: "active"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ec2Members = %+v; want %+v", got, want)
	}
}
