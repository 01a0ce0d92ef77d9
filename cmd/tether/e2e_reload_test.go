package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestReloadUnderLoad reloads a good config (a member added), then a bad
// one, while requests flow: none may fail, the good config applies, the bad
// one is refused with its file:line:col and the old config stays.
func TestReloadUnderLoad(t *testing.T) {
	needBinaries(t)
	b1, b2, b3 := startBackend(t, "tomcat1"), startBackend(t, "tomcat2"), startBackend(t, "tomcat3")
	mk := func(to, extra string) string {
		return fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n\tlog {\n\t\tlevel warn\n\t}\n}\n\nhttp://127.0.0.1:0 {\n\treverse_proxy {\n\t\tname app\n\t\tto %s\n%s\t}\n}\n", to, extra)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	os.WriteFile(path, []byte(mk("tomcat1=http://"+b1.addr+" tomcat2=http://"+b2.addr, "")), 0o644)
	var r readyInfo
	p := start(t, tetherBin, []string{"run", "-c", path}, "--ready-file", &r)
	site := "http://" + r.Listeners[0].Addr

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				code, _, err := get(ctx, site+"/", "")
				if ctx.Err() != nil {
					return
				}
				sent.Add(1)
				if err != nil || code != 200 {
					failed.Add(1)
					t.Logf("request failed: %d %v", code, err)
				}
			}
		})
	}
	members := func() []string {
		var out []string
		for _, m := range status(t, r.Admin).Balancers[0].Members {
			out = append(out, m.Name+"/"+m.State)
		}
		slices.Sort(out)
		return out
	}
	time.Sleep(500 * time.Millisecond)
	// operator state set before the reload must survive it
	req, _ := http.NewRequest(http.MethodPut, "http://"+r.Admin+"/api/balancers/app/members/tomcat2/state", strings.NewReader(`{"state":"disabled"}`))
	req.Header.Set("X-Tether-Admin", "1")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("disable tomcat2: %v %v", err, resp)
	}

	// good config by SIGHUP: tomcat3 added
	os.WriteFile(path, []byte(mk("tomcat1=http://"+b1.addr+" tomcat2=http://"+b2.addr+" tomcat3=http://"+b3.addr, "")), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	want := []string{"tomcat1/active", "tomcat2/disabled", "tomcat3/active"}
	testpeers.WaitUntil(t, 10*time.Second, "the reloaded config", func() bool { return slices.Equal(members(), want) })
	time.Sleep(500 * time.Millisecond)
	if _, route := mustGet(t, site+"/", "JSESSIONID=a.tomcat3"); route != "tomcat3" {
		t.Errorf("after reload, a tomcat3 session went to %q", route)
	}

	// bad config by the API: refused with its position, old config kept
	os.WriteFile(path, []byte(mk("tomcat1=http://"+b1.addr, "\t\tlb_policy sideways\n")), 0o644)
	rreq, _ := http.NewRequest(http.MethodPost, "http://"+r.Admin+"/api/reload", nil)
	rreq.Header.Set("X-Tether-Admin", "1")
	resp, err := client.Do(rreq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), path+":12:13") {
		t.Errorf("bad reload: %d %s; want 400 naming %s:12:13", resp.StatusCode, body, path)
	}
	time.Sleep(500 * time.Millisecond)
	if got := members(); !slices.Equal(got, want) {
		t.Errorf("after a refused reload members = %v; want the running config %v", got, want)
	}
	cancel()
	wg.Wait()
	t.Logf("%d requests during two reloads, %d failed", sent.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d requests failed during reloads; want 0", failed.Load())
	}
	if sent.Load() < 200 {
		t.Errorf("only %d requests: the load did not run", sent.Load())
	}
}

// wrkScript counts, per wrk thread, the responses outside 2xx/3xx (wrk's
// own "Non-2xx or 3xx" count leaves out 1xx and counts only status > 399)
// and prints one line that TestReloadUnderWrk parses, after wrk's summary.
const wrkScript = `
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; codes = "" end
function response(status, headers, body)
  if status < 200 or status > 399 then
    bad = bad + 1
    if #codes < 200 then codes = codes .. status .. " " end
  end
end
function done(summary, latency, requests)
  local bad, codes = 0, ""
  for _, t in ipairs(threads) do bad = bad + t:get("bad"); codes = codes .. t:get("codes") end
  local e = summary.errors
  io.write(string.format("tether-wrk: requests=%d bad=%d connect=%d read=%d write=%d timeout=%d status=%d codes=[%s]\n",
    summary.requests, bad, e.connect, e.read, e.write, e.timeout, e.status, codes))
end
`

// wrkCounts is the line wrkScript prints.
type wrkCounts struct {
	requests, bad, connect, read, write, timeout, status int
	codes                                                string
}

var wrkLine = regexp.MustCompile(`tether-wrk: requests=(\d+) bad=(\d+) connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+) status=(\d+) codes=\[([^\]]*)\]`)

func parseWrk(out string) (wrkCounts, bool) {
	m := wrkLine.FindStringSubmatch(out)
	if m == nil {
		return wrkCounts{}, false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	return wrkCounts{requests: n(1), bad: n(2), connect: n(3), read: n(4), write: n(5), timeout: n(6), status: n(7), codes: strings.TrimSpace(m[8])}, true
}

// TestReloadUnderWrk is the acceptance check of hot reload with the real
// wrk: under `wrk -t2 -c32 -d6s`, a good config (a member's weight
// changed, a member added) is applied by SIGHUP, and a bad one is refused
// by POST /api/reload with its file:line:col while the old one keeps
// serving; wrk must see no socket error and no response outside 2xx/3xx.
func TestReloadUnderWrk(t *testing.T) {
	needBinaries(t)
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("wrk not found (scripts/deps.sh installs it): %v", err)
		}
		t.Skipf("wrk not installed (scripts/deps.sh installs it): %v", err)
	}
	b1, b2, b3 := startBackend(t, "tomcat1"), startBackend(t, "tomcat2"), startBackend(t, "tomcat3")
	mk := func(members, extra string) string {
		return "{\n\tadmin 127.0.0.1:0\n\tlog {\n\t\tlevel warn\n\t}\n}\n\nhttp://127.0.0.1:0 {\n\treverse_proxy {\n\t\tname app\n" +
			members + extra + "\t}\n}\n"
	}
	backend := func(name string, p *proc, block string) string {
		return "\t\tbackend " + name + " http://" + p.addr + block + "\n"
	}
	oldCfg := mk(backend("tomcat1", b1, "")+backend("tomcat2", b2, ""), "")
	goodCfg := mk(backend("tomcat1", b1, "")+backend("tomcat2", b2, " {\n\t\t\tweight 3\n\t\t}")+backend("tomcat3", b3, ""), "")
	badCfg := mk(backend("tomcat1", b1, ""), "\t\tlb_policy sideways\n")
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(oldCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var r readyInfo
	p := start(t, tetherBin, []string{"run", "-c", path}, "--ready-file", &r)
	site := "http://" + r.Listeners[0].Addr + "/"
	members := func() []string {
		var out []string
		for _, m := range status(t, r.Admin).Balancers[0].Members {
			out = append(out, fmt.Sprintf("%s/%s/w%d", m.Name, m.State, m.Weight))
		}
		slices.Sort(out)
		return out
	}
	if got, want := members(), []string{"tomcat1/active/w1", "tomcat2/active/w1"}; !slices.Equal(got, want) {
		t.Fatalf("members before the reloads = %v; want %v", got, want)
	}

	script := filepath.Join(dir, "count.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		t.Fatal(err)
	}
	// Bounded: 6 s on loopback; the context kills wrk (by its PID) should
	// the test end first.
	cmd := exec.CommandContext(t.Context(), wrk, "-t2", "-c32", "-d6s", "--latency", "-s", script, site)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start wrk: %v", err)
	}
	wrkDone := make(chan error, 1)
	go func() { wrkDone <- cmd.Wait() }()
	running := func(what string) {
		t.Helper()
		select {
		case err := <-wrkDone:
			wrkDone <- err
			t.Errorf("wrk ended before %s: the reload did not happen under load", what)
		default:
		}
	}
	time.Sleep(1500 * time.Millisecond)

	// A good config by SIGHUP: tomcat2's weight 1 -> 3, tomcat3 added.
	if err := os.WriteFile(path, []byte(goodCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	want := []string{"tomcat1/active/w1", "tomcat2/active/w3", "tomcat3/active/w1"}
	testpeers.WaitUntil(t, 10*time.Second, "the SIGHUP config on /api/status", func() bool { return slices.Equal(members(), want) })
	t.Logf("good config applied %v after SIGHUP", time.Since(t0).Round(time.Millisecond))
	if _, route := mustGet(t, site, "JSESSIONID=a.tomcat3"); route != "tomcat3" {
		t.Errorf("after the good reload, a tomcat3 session went to %q", route)
	}
	running("the good reload was checked")
	time.Sleep(1500 * time.Millisecond)

	// A bad config by the API: refused with its position, the old one kept.
	if err := os.WriteFile(path, []byte(badCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(badCfg, "sideways")
	pos := fmt.Sprintf("%s:%d:%d", path, strings.Count(badCfg[:i], "\n")+1, i-strings.LastIndex(badCfg[:i], "\n"))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+r.Admin+"/api/reload", nil)
	req.Header.Set("X-Tether-Admin", "1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST /api/reload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), pos) {
		t.Errorf("POST /api/reload of a bad config = %d %s; want 400 naming %s", resp.StatusCode, bytes.TrimSpace(body), pos)
	}
	t.Logf("bad config refused: %d %s", resp.StatusCode, bytes.TrimSpace(body))
	if got := members(); !slices.Equal(got, want) {
		t.Errorf("after the refused reload members = %v; want the running config %v", got, want)
	}
	if _, route := mustGet(t, site, "JSESSIONID=b.tomcat3"); route != "tomcat3" {
		t.Errorf("after the refused reload, a tomcat3 session went to %q; want the old config serving", route)
	}
	running("the bad reload was checked")

	select {
	case err = <-wrkDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("wrk still running 30s after its 6s run:\n%s", out.String())
	}
	t.Logf("wrk %s during two reloads:\n%s", strings.Join(cmd.Args[1:], " "), out.String())
	if err != nil {
		t.Fatalf("wrk: %v", err)
	}
	c, ok := parseWrk(out.String())
	if !ok {
		t.Fatalf("wrk printed no tether-wrk line")
	}
	if c.connect+c.read+c.write+c.timeout != 0 {
		t.Errorf("wrk socket errors: connect %d, read %d, write %d, timeout %d; want none", c.connect, c.read, c.write, c.timeout)
	}
	if c.bad != 0 || c.status != 0 {
		t.Errorf("wrk saw %d responses outside 2xx/3xx (%d over 399; codes %s); want none", c.bad, c.status, c.codes)
	}
	if c.requests < 1000 {
		t.Errorf("wrk sent only %d requests in 6s: the load did not run", c.requests)
	}
}
