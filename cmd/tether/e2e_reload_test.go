package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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
	waitFor(t, 10*time.Second, "the reloaded config", func() bool { return slices.Equal(members(), want) })
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
