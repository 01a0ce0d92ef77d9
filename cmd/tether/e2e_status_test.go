package main

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

var updateScreenshot = flag.String("status-screenshot", "", "write a screenshot of the status page to this file (docs/status-page.png)")

// demoReadyInfo is what `tether demo --ready-file` writes.
type demoReadyInfo struct {
	Admin    string
	Proxies  []demoReadyProxyInfo
	Backends []struct{ Route, Addr string }
	Control  string
}

type demoReadyProxyInfo struct {
	Name, Admin string
	Listeners   []struct {
		Addr  string
		HTTPS bool
	}
}

// site is the proxy's plain-HTTP site address.
func (p demoReadyProxyInfo) site() string {
	for _, l := range p.Listeners {
		if !l.HTTPS {
			return l.Addr
		}
	}
	return ""
}

// TestStatusPageInChromium runs `tether demo` (three proxies in one
// cluster, three app nodes joined to it as backend members) and opens
// proxy1's status page in headless Chromium: the page renders every
// cluster member and every balancer member, and a user's click on
// "disable" changes the member's state on all three proxies.
func TestStatusPageInChromium(t *testing.T) {
	needBinaries(t)
	var r demoReadyInfo
	demo := start(t, tetherBin, []string{"demo", "--listen", "127.0.0.1:0", "--https", "localhost:0",
		"--admin", "127.0.0.1:0", "--control", "127.0.0.1:0", "--no-browser"}, "--ready-file", &r)
	if len(r.Proxies) != 3 || r.Admin != r.Proxies[0].Admin || r.Control == "" {
		t.Fatalf("demo ready file = %+v; want three proxies, proxy1's admin at the top, the control address", r)
	}
	var admins []string
	for i, p := range r.Proxies {
		if want := "proxy" + strconv.Itoa(i+1); p.Name != want || p.Admin == "" || p.site() == "" {
			t.Fatalf("demo ready file: proxy %d = %+v; want %s with an admin and a site address", i, p, want)
		}
		admins = append(admins, p.Admin)
	}
	p1, site1 := r.Proxies[0], "http://"+r.Proxies[0].site()
	routes := []string{"tomcat1", "tomcat2", "tomcat3"}
	wantCluster := []string{"proxy1 proxy", "proxy2 proxy", "proxy3 proxy", "tomcat1 backend", "tomcat2 backend", "tomcat3 backend"}
	var wantNames []string
	for _, w := range wantCluster {
		wantNames = append(wantNames, strings.Fields(w)[0])
	}
	// The demo reports ready once every proxy has discovered the three app
	// nodes; a proxy may still be learning of the other proxies.
	for _, a := range admins {
		testpeers.WaitUntil(t, 20*time.Second, "six cluster members and three routable app nodes on "+a, func() bool {
			return slices.Equal(clusterMembers(t, a), wantNames) && slices.Equal(routable(t, a), routes)
		})
	}
	// Some traffic, so the page has numbers to show.
	for i := range 30 {
		if code, route := mustGet(t, site1+"/", "JSESSIONID=s"+strconv.Itoa(i)+"."+routes[i%3]); code != 200 || route != routes[i%3] {
			t.Fatalf("GET %s/ with a session on %s = %d from %q; want 200 from %s", site1, routes[i%3], code, route, routes[i%3])
		}
	}

	// The demo serves its sites over HTTPS with `tls internal`: curl trusting
	// the root the demo printed gets the page over HTTP/2.
	var intro []string
	testpeers.WaitUntil(t, 10*time.Second, "the demo's intro with the CA root and proxy1's https site", func() bool {
		intro = regexp.MustCompile(`curl -s --cacert (\S+) (https://localhost:\d+)/`).FindStringSubmatch(demo.out.String())
		return intro != nil
	})
	got, err := exec.CommandContext(t.Context(), "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
		"--cacert", intro[1], intro[2]+"/").CombinedOutput()
	if err != nil || string(got) != "200 2" {
		t.Errorf("curl --cacert %s %s/ = %q, %v; want 200 over HTTP/2", intro[1], intro[2], got, err)
	}
	t.Logf("curl --cacert %s %s/: %s", intro[1], intro[2], got)

	// Traffic through the two other proxies too: proxy1's page sums every
	// proxy's counters, which the proxies send each other every 2 s.
	for i := range 12 {
		site := "http://" + r.Proxies[1+i%2].site()
		if code, route := mustGet(t, site+"/", "JSESSIONID=u"+strconv.Itoa(i)+"."+routes[i%3]); code != 200 || route != routes[i%3] {
			t.Fatalf("GET %s/ with a session on %s = %d from %q", site, routes[i%3], code, route)
		}
	}
	var clusterRequests map[string]uint64
	testpeers.WaitUntil(t, 15*time.Second, "proxy1's cluster counters equal to the sum of the three proxies' own", func() bool {
		sum := map[string]uint64{}
		for _, a := range admins {
			for _, m := range status(t, a).Balancers[0].Members {
				sum[m.Name] += m.Requests
			}
		}
		for _, m := range status(t, p1.Admin).Balancers[0].Members {
			if m.Cluster == nil || m.Cluster.Proxies != 3 || m.Cluster.Requests != sum[m.Name] {
				return false
			}
		}
		clusterRequests = sum
		return true
	})
	t.Logf("requests per member, summed over the three proxies on proxy1's /api/status: %v", clusterRequests)

	br := startChromium(t)
	page := br.page(t)
	pageURL := "http://" + p1.Admin + "/?refresh=0"
	page.navigate(t, pageURL)

	var clusterRows, memberRows []string
	if err := page.eval(`[...document.querySelectorAll("tr.cluster-member")].map(r => r.dataset.name + " " + r.cells[1].innerText).sort()`, &clusterRows); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(clusterRows, wantCluster) {
		t.Errorf("cluster rows (name role) on the page = %q; want %q", clusterRows, wantCluster)
	}
	if err := page.eval(`[...document.querySelectorAll("section.balancer[data-balancer=demo] tr.member")].map(r => r.dataset.member + " " + r.dataset.state).sort()`, &memberRows); err != nil {
		t.Fatal(err)
	}
	if want := []string{"tomcat1 active", "tomcat2 active", "tomcat3 active"}; !slices.Equal(memberRows, want) {
		t.Errorf("balancer demo's member rows on the page = %q; want %q", memberRows, want)
	}
	t.Logf("proxy1's page renders %d cluster members %q and %d members of balancer demo", len(clusterRows), clusterRows, len(memberRows))
	var cell, balancerLine string
	if err := page.eval(`document.querySelector('tr.member[data-member="tomcat1"] td.requests').innerText`, &cell); err != nil {
		t.Fatal(err)
	}
	if err := page.eval(`document.querySelector("section.balancer[data-balancer=demo] h2").innerText`, &balancerLine); err != nil {
		t.Fatal(err)
	}
	if cell != strconv.FormatUint(clusterRequests["tomcat1"], 10) || !strings.Contains(balancerLine, "counters summed over 3 proxies") {
		t.Errorf("page: tomcat1's requests %q under %q; want the cluster's %d, summed over 3 proxies", cell, balancerLine, clusterRequests["tomcat1"])
	}
	var header string
	if err := page.eval(`document.querySelector("header").innerText`, &header); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(header, "proxy1") || !strings.Contains(header, "serving") || !strings.Contains(header, "cluster demo") {
		t.Errorf("page header = %q; want node proxy1, serving, cluster demo", header)
	}

	// A user's click on tomcat2's "disable" button, on proxy1's page; then
	// each proxy's /api/status, polled until it shows tomcat2 disabled.
	clicked := time.Now()
	page.click(t, `tr.member[data-member="tomcat2"] button[data-set="disabled"]`)
	seen := make([]time.Duration, len(admins))
	testpeers.WaitUntil(t, 20*time.Second, "tomcat2 disabled on all three proxies' /api/status", func() bool {
		all := true
		for i, a := range admins {
			if seen[i] != 0 {
				continue
			}
			if memberState(t, a, "demo", "tomcat2") == "disabled" {
				seen[i] = time.Since(clicked)
			} else {
				all = false
			}
		}
		return all
	})
	for i, a := range admins {
		t.Logf("tomcat2 disabled on %s (%s) %v after the click", r.Proxies[i].Name, a, seen[i].Round(time.Millisecond))
	}
	t.Logf("disable applied on %d/%d proxies within %v of the click", len(admins), len(admins), slices.Max(seen).Round(time.Millisecond))
	// The page reloads itself after the change and shows the new state.
	page.waitJS(t, 10*time.Second, "proxy1's page shows tomcat2 disabled",
		`document.readyState === "complete" && document.querySelector('tr.member[data-member="tomcat2"]')?.dataset.state === "disabled"`)
	for i, a := range admins {
		if got := routable(t, a); !slices.Equal(got, []string{"tomcat1", "tomcat3"}) {
			t.Errorf("routable on %s after disable = %v; want [tomcat1 tomcat3]", r.Proxies[i].Name, got)
		}
	}
	// Disabled drains: tomcat2's own sessions still reach it, on any proxy.
	if code, route := mustGet(t, "http://"+r.Proxies[2].site()+"/", "JSESSIONID=d1.tomcat2"); code != 200 || route != "tomcat2" {
		t.Errorf("GET on proxy3 with a session on disabled tomcat2 = %d from %q; want 200 from tomcat2", code, route)
	}
	// proxy3's own page shows it too.
	page.navigate(t, "http://"+r.Proxies[2].Admin+"/?refresh=0")
	if err := page.eval(`[...document.querySelectorAll("section.balancer[data-balancer=demo] tr.member")].map(r => r.dataset.member + " " + r.dataset.state).sort()`, &memberRows); err != nil {
		t.Fatal(err)
	}
	if want := []string{"tomcat1 active", "tomcat2 disabled", "tomcat3 active"}; !slices.Equal(memberRows, want) {
		t.Errorf("proxy3's page: balancer demo's member rows = %q; want %q", memberRows, want)
	}

	// A cross-site page cannot do the same: a PUT without the admin header,
	// and one whose Origin is another site, are refused.
	stateURL := "http://" + p1.Admin + "/api/balancers/demo/members/tomcat3/state"
	if code := putNoHeader(t, stateURL); code != 403 {
		t.Errorf("PUT state without X-Tether-Admin = %d; want 403", code)
	}
	if code := putFromOrigin(t, stateURL, "http://evil.example"); code != 403 {
		t.Errorf("PUT state with X-Tether-Admin from Origin http://evil.example = %d; want 403", code)
	}
	if got := memberState(t, r.Proxies[1].Admin, "demo", "tomcat3"); got != "active" {
		t.Errorf("tomcat3 on proxy2 after the refused PUTs = %q; want active", got)
	}

	// tether status prints both tables; proxy3's shows the state set
	// through proxy1.
	out, err := runTether(t, "status", "--admin", r.Proxies[2].Admin)
	if err != nil {
		t.Fatalf("tether status: %v\n%s", err, out)
	}
	for _, want := range []string{"CLUSTER MEMBER", "proxy3 *", "proxy1", "tomcat2", "BALANCER demo", "disabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("tether status lacks %q:\n%s", want, out)
		}
	}
	t.Logf("tether status --admin proxy3:\n%s", out)

	if *updateScreenshot != "" {
		// For the picture: tomcat3 stopped with `tether set-state` through
		// proxy2, so on proxy1 its sessions fail over and the page lists
		// the failovers.
		if out, err := runTether(t, "set-state", "demo", "tomcat3", "stopped", "--admin", r.Proxies[1].Admin); err != nil {
			t.Fatalf("tether set-state: %v\n%s", err, out)
		}
		testpeers.WaitUntil(t, 20*time.Second, "tomcat3 stopped on proxy1", func() bool { return memberState(t, p1.Admin, "demo", "tomcat3") == "stopped" })
		for i := range 12 {
			mustGet(t, site1+"/", "JSESSIONID=x"+strconv.Itoa(i)+"."+routes[i%3])
		}
		// No pins to wait for: the demo's nodes answer an unknown session
		// id with a new session, and rename a replicated one to their own
		// route (as JvmRouteBinderValve does), so these failovers need
		// none (proxy/pins.go).
		page.navigate(t, pageURL)
		if err := os.WriteFile(*updateScreenshot, page.screenshot(t), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", *updateScreenshot)
	}

	// Ctrl-C stops the whole demo cleanly.
	stopAt := time.Now()
	if err := demo.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-demo.done:
	case <-time.After(30 * time.Second):
		t.Fatal("tether demo still running 30s after SIGINT")
	}
	if !demo.cmd.ProcessState.Success() {
		t.Errorf("tether demo after SIGINT: %v; want exit 0", demo.cmd.ProcessState)
	}
	t.Logf("tether demo stopped %v after SIGINT", time.Since(stopAt).Round(time.Millisecond))
}

// memberState is a balancer member's state in a proxy's /api/status.
func memberState(t *testing.T, admin, balancer, member string) string {
	t.Helper()
	for _, b := range status(t, admin).Balancers {
		if b.Name != balancer {
			continue
		}
		for _, m := range b.Members {
			if m.Name == member {
				return m.State
			}
		}
	}
	return ""
}

func putFromOrigin(t *testing.T, url, origin string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(`{"state":"stopped"}`))
	req.Header.Set("X-Tether-Admin", "1")
	req.Header.Set("Origin", origin)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func putNoHeader(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(`{"state":"stopped"}`))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func runTether(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(tetherBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
