package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// siteConfig is a one-balancer config over the given backends.
func siteConfig(to, extra string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:0
	log {
		level warn
	}
}

http://127.0.0.1:0 {
	reverse_proxy {
		name app
		to %s
%s
	}
}
`, to, extra)
}

func TestStickinessByRoute(t *testing.T) {
	needBinaries(t)
	bs := map[string]*proc{"tomcat1": startBackend(t, "tomcat1"), "tomcat2": startBackend(t, "tomcat2")}
	// tomcat1 disabled: it still takes its own sessions but no new ones, so
	// a request that reaches it can only have been routed by its route.
	p, _ := startTether(t, siteConfig(toArgs(map[string]*proc{"tomcat2": bs["tomcat2"]})+"\n\t\tbackend tomcat1 http://"+bs["tomcat1"].addr+" {\n\t\t\tstate disabled\n\t\t}", ""))
	base := "http://" + p.addr

	t.Run("1000 requests with JSESSIONID=abc.tomcat2 all reach tomcat2", func(t *testing.T) {
		for i := range 1000 {
			if code, route := mustGet(t, base+"/app/x", "JSESSIONID=abc.tomcat2"); code != 200 || route != "tomcat2" {
				t.Fatalf("request %d: status %d from %q; want 200 from tomcat2", i, code, route)
			}
		}
	})
	t.Run("cookie route reaches a disabled member", func(t *testing.T) {
		if code, route := mustGet(t, base+"/", "JSESSIONID=abc.tomcat1"); code != 200 || route != "tomcat1" {
			t.Fatalf("JSESSIONID=abc.tomcat1: status %d from %q; want 200 from tomcat1", code, route)
		}
	})
	t.Run("path parameter", func(t *testing.T) {
		for _, route := range []string{"tomcat1", "tomcat2"} {
			if code, got := mustGet(t, base+"/app;jsessionid=abc."+route, ""); code != 200 || got != route {
				t.Fatalf("/app;jsessionid=abc.%s: status %d from %q; want 200 from %s", route, code, got, route)
			}
		}
	})
	t.Run("path parameter before cookie", func(t *testing.T) {
		if code, got := mustGet(t, base+"/app;jsessionid=abc.tomcat1", "JSESSIONID=abc.tomcat2"); code != 200 || got != "tomcat1" {
			t.Fatalf("status %d from %q; want 200 from tomcat1", code, got)
		}
	})
	t.Run("route is everything after the first dot", func(t *testing.T) {
		for i := range 100 {
			if code, route := mustGet(t, base+"/", "JSESSIONID=ABC.DEF.tomcat1"); code != 200 || route == "tomcat1" {
				t.Fatalf("request %d with JSESSIONID=ABC.DEF.tomcat1: status %d from %q; want 200, not from tomcat1", i, code, route)
			}
		}
	})
	t.Run("first cookie whose route exists wins", func(t *testing.T) {
		for _, c := range []struct{ cookie, want string }{
			{"JSESSIONID=A.tomcat9; JSESSIONID=B.tomcat1", "tomcat1"},
			{"JSESSIONID=A.tomcat1; JSESSIONID=B.tomcat2", "tomcat1"},
			{"other=1; JSESSIONID=A.nope; JSESSIONID=B.tomcat1", "tomcat1"},
		} {
			if code, got := mustGet(t, base+"/", c.cookie); code != 200 || got != c.want {
				t.Errorf("Cookie %q: status %d from %q; want 200 from %s", c.cookie, code, got, c.want)
			}
		}
	})
	t.Run("new sessions never go to the disabled member", func(t *testing.T) {
		for i := range 200 {
			if code, route := mustGet(t, base+"/", ""); code != 200 || route != "tomcat2" {
				t.Fatalf("new request %d: status %d from %q; want 200 from tomcat2", i, code, route)
			}
		}
	})
}

func TestMemberStatesThroughAdminAPI(t *testing.T) {
	needBinaries(t)
	bs := map[string]*proc{"tomcat1": startBackend(t, "tomcat1"), "tomcat2": startBackend(t, "tomcat2"), "tomcat3": startBackend(t, "tomcat3")}
	p, ready := startTether(t, siteConfig(toArgs(bs), ""))
	base := "http://" + p.addr
	setState := func(member, state string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, "http://"+ready.Admin+"/api/balancers/app/members/"+member+"/state", strings.NewReader(`{"state":"`+state+`"}`))
		req.Header.Set("X-Tether-Admin", "1")
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("PUT state %s=%s: %v %v", member, state, err, resp)
		}
		resp.Body.Close()
	}

	setState("tomcat2", "disabled")
	for i := range 300 {
		if _, route := mustGet(t, base+"/", ""); route == "tomcat2" {
			t.Fatalf("new request %d went to disabled tomcat2", i)
		}
	}
	if _, route := mustGet(t, base+"/", "JSESSIONID=s.tomcat2"); route != "tomcat2" {
		t.Fatalf("session of disabled tomcat2 went to %q; want tomcat2", route)
	}

	setState("tomcat2", "stopped")
	for i := range 100 {
		if _, route := mustGet(t, base+"/", "JSESSIONID=s"+fmt.Sprint(i)+".tomcat2"); route == "tomcat2" || route == "" {
			t.Fatalf("session %d of stopped tomcat2 went to %q; want another member", i, route)
		}
	}
	for i := range 300 {
		if _, route := mustGet(t, base+"/", ""); route == "tomcat2" {
			t.Fatalf("new request %d went to stopped tomcat2", i)
		}
	}

	setState("tomcat2", "active")
	seen := false
	for range 30 {
		if _, route := mustGet(t, base+"/", ""); route == "tomcat2" {
			seen = true
		}
	}
	if !seen {
		t.Fatal("tomcat2 got no new request in 30 after it was made active again (round robin over 3)")
	}

	// tether set-state and status talk to the same API.
	var out bytes.Buffer
	if code := run([]string{"set-state", "app", "tomcat3", "disabled", "--admin", ready.Admin}, &out, &out); code != 0 {
		t.Fatalf("tether set-state exit %d: %s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"status", "--admin", ready.Admin}, &out, &out); code != 0 || !strings.Contains(out.String(), "tomcat3") || !strings.Contains(out.String(), "disabled") {
		t.Fatalf("tether status exit %d, output:\n%s", code, out.String())
	}
}

func TestStickyForce(t *testing.T) {
	needBinaries(t)
	bs := map[string]*proc{"tomcat1": startBackend(t, "tomcat1"), "tomcat2": startBackend(t, "tomcat2")}
	p, _ := startTether(t, siteConfig(toArgs(bs), "\t\tsticky_force on"))
	base := "http://" + p.addr
	if code, route := mustGet(t, base+"/", "JSESSIONID=a.tomcat1"); code != 200 || route != "tomcat1" {
		t.Fatalf("before the kill: %d from %q", code, route)
	}
	bs["tomcat1"].kill9(t)
	for i := range 20 {
		if code, route := mustGet(t, base+"/", "JSESSIONID=a.tomcat1"); code != http.StatusServiceUnavailable {
			t.Fatalf("request %d after kill with sticky_force: status %d from %q; want 503", i, code, route)
		}
	}
	if code, route := mustGet(t, base+"/", ""); code != 200 || route != "tomcat2" {
		t.Fatalf("new session after kill: %d from %q; want 200 from tomcat2", code, route)
	}
}

// TestFailoverUnderLoad kills a member under keep-alive load: the session
// of the dead route must move to one member, and no request may fail
// except those in flight at the moment of the kill (GETs are retried, so in
// practice none).
func TestFailoverUnderLoad(t *testing.T) {
	needBinaries(t)
	bs := map[string]*proc{"tomcat1": startBackend(t, "tomcat1"), "tomcat2": startBackend(t, "tomcat2"), "tomcat3": startBackend(t, "tomcat3")}
	cfg := siteConfig(toArgs(bs), "")
	p, _ := startTether(t, cfg)
	p2, _ := startTether(t, cfg) // a second, separately started proxy with the same config
	base := "http://" + p.addr

	const workers = 32
	var ok, failed, afterKill atomic.Int64
	var killed atomic.Bool
	var mu sync.Mutex
	routesAfter := map[string]int{}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				code, route, err := get(ctx, base+"/", "JSESSIONID=load.tomcat1")
				if ctx.Err() != nil {
					return
				}
				if err != nil || code != 200 {
					failed.Add(1)
					continue
				}
				ok.Add(1)
				if killed.Load() {
					afterKill.Add(1)
					mu.Lock()
					routesAfter[route]++
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	bs["tomcat1"].kill9(t)
	killed.Store(true)
	wg.Wait()

	t.Logf("ok=%d failed=%d after kill=%d routes after kill=%v", ok.Load(), failed.Load(), afterKill.Load(), routesAfter)
	if failed.Load() > workers {
		t.Errorf("%d requests failed; want at most the %d in flight at the kill", failed.Load(), workers)
	}
	if afterKill.Load() < 100 {
		t.Fatalf("only %d requests succeeded after the kill; the load did not go on", afterKill.Load())
	}
	// every request after the kill, except those that were already at
	// tomcat1, went to one and the same member.
	var target string
	for r, n := range routesAfter {
		if r == "tomcat1" {
			if n > workers {
				t.Errorf("%d requests answered by tomcat1 after its kill", n)
			}
			continue
		}
		if target != "" {
			t.Fatalf("the session went to several members after the kill: %v", routesAfter)
		}
		target = r
	}

	// Both proxies, started separately, send each session of the dead route
	// to the same member.
	base2 := "http://" + p2.addr
	spread := map[string]int{}
	for i := range 200 {
		cookie := fmt.Sprintf("JSESSIONID=S%04d.tomcat1", i)
		_, r1 := mustGet(t, base+"/", cookie)
		_, r2 := mustGet(t, base2+"/", cookie)
		_, r1again := mustGet(t, base+"/", cookie)
		if r1 != r2 || r1 != r1again || r1 == "tomcat1" || r1 == "" {
			t.Fatalf("session %d: proxy 1 sent it to %q then %q, proxy 2 to %q; want one surviving member", i, r1, r1again, r2)
		}
		spread[r1]++
	}
	if _, r := mustGet(t, base+"/", "JSESSIONID=load.tomcat1"); r != target {
		t.Errorf("the load's session now goes to %q; it went to %q during the load", r, target)
	}
	t.Logf("200 sessions of the dead route, same member from both proxies: %v", spread)
}

func TestBrokenConfigStartsNothing(t *testing.T) {
	needBinaries(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	// The port is free: if tether bound it before failing, the probe below
	// would find it taken while tether runs; it must exit at once instead.
	src := "http://127.0.0.1:0 {\n\treverse_proxy {\n\t\tto a=http://127.0.0.1:1\n\t\tlb_policy fastest\n\t}\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"validate", "-c", path}, {"run", "-c", path, "--ready-file", filepath.Join(dir, "ready")}} {
		cmd := exec.Command(tetherBin, args...)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
			t.Fatalf("tether %v: exit %v (%v); want 1\n%s", args, cmd.ProcessState, err, out)
		}
		if want := path + ":4:13"; !strings.Contains(string(out), want) {
			t.Errorf("tether %v: output %q does not name %s", args, out, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		t.Error("tether run wrote a ready file for a broken config")
	}
}

func TestValidateExample(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"validate", "-c", "../../Caddyfile.example"}, &out, &out); code != 0 {
		t.Fatalf("tether validate Caddyfile.example: exit %d\n%s", code, out.String())
	}
}
