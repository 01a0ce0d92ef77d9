package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/demoapp"
	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestSessionsCommand is issue 16's fifth acceptance: "tether sessions"
// finds a session pinned after a failover (its member stopped, then
// active again: the pin keeps it on the member it failed over to), removes
// the pin, and the next request goes back to the session's own route. The
// session id appears in no log line of the proxy.
func TestSessionsCommand(t *testing.T) {
	needBinaries(t)
	store := demoapp.NewStore() // both members know every session, as replicated Tomcats do
	urls := map[string]string{}
	for _, route := range []string{"tomcat1", "tomcat2"} {
		s := httptest.NewServer(&demoapp.Backend{Route: route, Store: store})
		t.Cleanup(s.Close)
		urls[route] = s.URL
	}
	addr, ready, logs := startTetherLogged(t, fmt.Sprintf(`{
	admin 127.0.0.1:0
}

http://127.0.0.1:0 {
	reverse_proxy {
		name app
		to tomcat1=%s tomcat2=%s
	}
}
`, urls["tomcat1"], urls["tomcat2"]))
	get, sessions := sessionsClient(t, addr, ready.Admin)
	var id string
	for i := 0; i < 6 && id == ""; i++ {
		if served, c := get(""); served == "tomcat1" {
			id = c
		}
	}
	if !strings.HasSuffix(id, ".tomcat1") {
		t.Fatalf("no session on tomcat1 (got %q)", id)
	}
	setMemberState(t, ready.Admin, "app", "tomcat1", "stopped")
	if served, _ := get(id); served != "tomcat2" {
		t.Fatalf("session of tomcat1 with tomcat1 stopped: served by %s; want tomcat2", served)
	}
	setMemberState(t, ready.Admin, "app", "tomcat1", "active")
	if served, _ := get(id); served != "tomcat2" {
		t.Fatalf("pinned session after tomcat1 came back: served by %s; want tomcat2 (the pin)", served)
	}
	out := sessions("app", id)
	if !strings.Contains(out, "entry     pin → tomcat2") || !strings.Contains(out, "goes to   tomcat2 (pinned)") {
		t.Errorf("tether sessions does not show the pin to tomcat2")
	}
	out = sessions("app", id, "remove")
	if !strings.Contains(out, "entry     none") || !strings.Contains(out, "goes to   tomcat1 (sticky)") {
		t.Errorf("tether sessions remove: the session does not go back to tomcat1")
	}
	if served, _ := get(id); served != "tomcat1" {
		t.Errorf("after the pin was removed: served by %s; want tomcat1, the session's own route", served)
	}
	out = sessions("app", id, "move", "tomcat2")
	if !strings.Contains(out, "goes to   tomcat2 (pinned)") {
		t.Errorf("tether sessions move tomcat2: not pinned to tomcat2")
	}
	if served, _ := get(id); served != "tomcat2" {
		t.Errorf("after move tomcat2: served by %s; want tomcat2", served)
	}
	sid, _, _ := strings.Cut(id, ".")
	if strings.Contains(logs.String(), sid) {
		t.Errorf("the proxy's log shows the session id:\n%s", logs.String())
	}
}

// TestSessionsAfterCrash is the fifth acceptance with a crash for the
// failover: the member of a session stops answering (its listener is
// closed, connections are refused), the session's next request fails over
// to the other member, which pins it there; the member comes back on its
// address and is healthy again, the pin still holds the session;
// "tether sessions" shows the pin, removes it, and the next request goes
// back to the session's own route.
func TestSessionsAfterCrash(t *testing.T) {
	needBinaries(t)
	store := demoapp.NewStore()
	serve := func(route string, ln net.Listener) *http.Server {
		s := &http.Server{Handler: &demoapp.Backend{Route: route, Store: store}}
		go s.Serve(ln)
		return s
	}
	lns := map[string]net.Listener{}
	srvs := map[string]*http.Server{}
	for _, route := range []string{"tomcat1", "tomcat2"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[route], srvs[route] = ln, serve(route, ln)
	}
	t.Cleanup(func() {
		for _, s := range srvs {
			s.Close()
		}
	})
	addr1 := lns["tomcat1"].Addr().String()
	addr, ready, logs := startTetherLogged(t, fmt.Sprintf(`{
	admin 127.0.0.1:0
}

http://127.0.0.1:0 {
	reverse_proxy {
		name app
		to tomcat1=http://%s tomcat2=http://%s
		recover_time 1s
	}
}
`, addr1, lns["tomcat2"].Addr()))
	get, sessions := sessionsClient(t, addr, ready.Admin)
	var id string
	for i := 0; i < 6 && id == ""; i++ {
		if served, c := get(""); served == "tomcat1" {
			id = c
		}
	}
	if !strings.HasSuffix(id, ".tomcat1") {
		t.Fatalf("no session on tomcat1 (got %q)", id)
	}
	// tomcat1 crashes: its port refuses connections.
	srvs["tomcat1"].Close()
	if served, _ := get(id); served != "tomcat2" {
		t.Fatalf("session of tomcat1 with tomcat1 down: served by %s; want tomcat2 (failover)", served)
	}
	t.Logf("tomcat1 down: the session of tomcat1 failed over to tomcat2")
	// tomcat1 comes back on its address.
	ln, err := net.Listen("tcp", addr1)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr1, err)
	}
	srvs["tomcat1"] = serve("tomcat1", ln)
	testpeers.WaitUntil(t, 20*time.Second, "tomcat1 healthy again", func() bool {
		for range 2 {
			get("") // new sessions give the balancer a chance to try tomcat1 again
		}
		return slices.Contains(routable(t, ready.Admin), "tomcat1")
	})
	if served, _ := get(id); served != "tomcat2" {
		t.Fatalf("session pinned by the failover, tomcat1 back: served by %s; want tomcat2 (the pin)", served)
	}
	out := sessions("app", id)
	if !strings.Contains(out, "entry     pin → tomcat2") || !strings.Contains(out, "goes to   tomcat2 (pinned)") {
		t.Errorf("tether sessions does not show the failover's pin to tomcat2")
	}
	out = sessions("app", id, "remove")
	if !strings.Contains(out, "entry     none") || !strings.Contains(out, "goes to   tomcat1 (sticky)") {
		t.Errorf("tether sessions remove: the session does not go back to tomcat1")
	}
	if served, _ := get(id); served != "tomcat1" {
		t.Errorf("after the pin was removed: served by %s; want tomcat1, the session's own route", served)
	}
	sid, _, _ := strings.Cut(id, ".")
	if strings.Contains(logs.String(), sid) {
		t.Errorf("the proxy's log shows the session id:\n%s", logs.String())
	}
}

// sessionsClient gives a sessions test its two tools: get sends a request
// through the proxy at addr with the session cookie (none for ""), and says
// which member served it and the JSESSIONID it set; sessions runs
// "tether sessions" against the admin API and returns what it printed.
func sessionsClient(t *testing.T, addr, admin string) (get func(cookie string) (served, setCookie string), sessions func(args ...string) string) {
	get = func(cookie string) (served, setCookie string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", "JSESSIONID="+cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "JSESSIONID" {
				setCookie = c.Value
			}
		}
		return resp.Header.Get("X-Route"), setCookie
	}
	sessions = func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tetherBin, append([]string{"sessions", "--admin", admin}, args...)...).CombinedOutput()
		t.Logf("$ tether sessions %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("tether sessions: %v", err)
		}
		return string(out)
	}
	return get, sessions
}
