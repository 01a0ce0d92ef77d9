package main

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateScreenshot = flag.String("status-screenshot", "", "write a screenshot of the status page to this file (docs/status-page.png)")

// TestStatusPageInChromium opens the status page of a running three-proxy
// cluster in headless Chromium: it renders every cluster member and every
// balancer member, and clicking "disable" on a member changes its state on
// the proxy the page came from.
func TestStatusPageInChromium(t *testing.T) {
	needBinaries(t)
	key := "yLqmoAxsEavMcO8c6lmmE2HhL9Lm1w8Kv8R8dRk0ZrU="
	p1, r1 := startClusterProxy(t, "proxy1", key, "")
	_, r2 := startClusterProxy(t, "proxy2", key, r1.Gossip)
	_, r3 := startClusterProxy(t, "proxy3", key, r1.Gossip)
	admins := []string{r1.Admin, r2.Admin, r3.Admin}
	routes := []string{"tomcat1", "tomcat2", "tomcat3"}
	for _, route := range routes {
		b := startBackend(t, route)
		startAgent(t, "agent-"+route, key, r1.Gossip, route, "http://"+b.addr)
	}
	for _, a := range admins {
		var logged time.Time
		waitFor(t, 30*time.Second, "all three backends routable on "+a, func() bool {
			got := routable(t, a)
			if !slices.Equal(got, routes) && time.Since(logged) > 3*time.Second {
				logged = time.Now()
				t.Logf("routable on %s so far: %v", a, got)
			}
			return slices.Equal(got, routes)
		})
	}
	wantCluster := []string{"agent-tomcat1", "agent-tomcat2", "agent-tomcat3", "proxy1", "proxy2", "proxy3"}
	waitFor(t, 20*time.Second, "six cluster members on proxy1", func() bool { return slices.Equal(clusterMembers(t, r1.Admin), wantCluster) })
	// Some traffic, a failover included, so the page has numbers to show.
	for i := range 30 {
		mustGet(t, "http://"+p1.addr+"/", "JSESSIONID=s"+string(rune('a'+i%26))+"."+routes[i%3])
	}

	br := startChromium(t)
	page := br.page(t)
	pageURL := "http://" + r1.Admin + "/?refresh=0"
	page.navigate(t, pageURL)

	var clusterRows, memberRows []string
	if err := page.eval(`[...document.querySelectorAll("tr.cluster-member")].map(r => r.dataset.name).sort()`, &clusterRows); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(clusterRows, wantCluster) {
		t.Errorf("cluster rows on the page = %v; want %v", clusterRows, wantCluster)
	}
	if err := page.eval(`[...document.querySelectorAll("section.balancer[data-balancer=app] tr.member")].map(r => r.dataset.member).sort()`, &memberRows); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(memberRows, routes) {
		t.Errorf("balancer app's member rows on the page = %v; want %v", memberRows, routes)
	}
	var header string
	if err := page.eval(`document.querySelector("header").innerText`, &header); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(header, "proxy1") || !strings.Contains(header, "serving") {
		t.Errorf("page header = %q; want node proxy1, serving", header)
	}

	// A user's click on tomcat2's "disable" button.
	page.click(t, `tr.member[data-member="tomcat2"] button[data-set="disabled"]`)
	waitFor(t, 10*time.Second, "tomcat2 disabled on proxy1's /api/status", func() bool {
		for _, m := range status(t, r1.Admin).Balancers[0].Members {
			if m.Name == "tomcat2" {
				return m.State == "disabled"
			}
		}
		return false
	})
	// The page reloads itself after the change and shows the new state.
	page.waitJS(t, 10*time.Second, "the page shows tomcat2 disabled",
		`document.readyState === "complete" && document.querySelector('tr.member[data-member="tomcat2"]')?.dataset.state === "disabled"`)
	if got := routable(t, r1.Admin); !slices.Equal(got, []string{"tomcat1", "tomcat3"}) {
		t.Errorf("routable on proxy1 after disable = %v; want [tomcat1 tomcat3]", got)
	}
	// Until member states are replicated, the other proxies keep theirs;
	// this logs what they show rather than asserting it.
	for _, a := range admins[1:] {
		for _, m := range status(t, a).Balancers[0].Members {
			if m.Name == "tomcat2" {
				t.Logf("tomcat2 on %s: %s", a, m.State)
			}
		}
	}

	// A cross-site page cannot do the same: a form POST from another
	// origin, and a PUT without the admin header, are refused.
	if code := putNoHeader(t, "http://"+r1.Admin+"/api/balancers/app/members/tomcat3/state"); code != 403 {
		t.Errorf("PUT state without X-Tether-Admin = %d; want 403", code)
	}

	// tether status prints both tables from the same proxy.
	out, err := runTether(t, "status", "--admin", r1.Admin)
	if err != nil {
		t.Fatalf("tether status: %v\n%s", err, out)
	}
	for _, want := range []string{"CLUSTER MEMBER", "proxy1 *", "agent-tomcat2", "BALANCER app", "tomcat2", "disabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("tether status lacks %q:\n%s", want, out)
		}
	}
	t.Logf("tether status:\n%s", out)

	if *updateScreenshot != "" {
		// For the picture: tomcat3 stopped with `tether set-state`, so its
		// sessions fail over and the page lists the failovers.
		if out, err := runTether(t, "set-state", "app", "tomcat3", "stopped", "--admin", r1.Admin); err != nil {
			t.Fatalf("tether set-state: %v\n%s", err, out)
		}
		for i := range 12 {
			mustGet(t, "http://"+p1.addr+"/", "JSESSIONID=x"+strconv.Itoa(i)+"."+routes[i%3])
		}
		page.navigate(t, pageURL)
		if err := os.WriteFile(*updateScreenshot, page.screenshot(t), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", *updateScreenshot)
	}
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
