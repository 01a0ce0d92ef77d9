package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// The end-to-end tests run the real tether binary and real backend
// processes on 127.0.0.1. TestMain builds both once (tether with -race).

var (
	tetherBin  string
	backendBin string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "tether-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		tetherBin = filepath.Join(dir, "tether")
		backendBin = filepath.Join(dir, "backend")
		for _, b := range []struct{ out, pkg string }{{tetherBin, "."}, {backendBin, "../../examples/backend"}} {
			args := []string{"build", "-o", b.out}
			if b.out == tetherBin {
				args = append(args, "-race")
			}
			cmd := exec.Command("go", append(args, b.pkg)...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "build:", err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs processes (skipped with -short)")
	}
}

// proc is a process a test started; it is stopped by its PID at cleanup.
type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
	out  *testpeers.Buffer // what the process printed on stdout
	logs *testpeers.Buffer // and on stderr (its log)
}

// kill9 stops the process at once, as a crash would.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 %d: %v", p.cmd.Process.Pid, err)
	}
	<-p.done
}

var testDataDirs sync.Map // *testing.T -> string

// testDataDir is the test's TETHER_DATA, so that nothing a test persists
// (member states, certificates) leaks into another test or the user's home.
func testDataDir(t *testing.T) string {
	if d, ok := testDataDirs.Load(t); ok {
		return d.(string)
	}
	d := t.TempDir()
	testDataDirs.Store(t, d)
	t.Cleanup(func() { testDataDirs.Delete(t) })
	return d
}

// start runs bin with args, waits for its ready file and returns the
// process. The ready file's JSON is decoded into ready.
func start(t *testing.T, bin string, args []string, readyFlag string, ready any) *proc {
	t.Helper()
	dir := t.TempDir()
	rf := filepath.Join(dir, "ready.json")
	cmd := exec.Command(bin, append(args, readyFlag, rf)...)
	// One data directory per test (member states, certificates), shared by
	// the test's processes so a restarted proxy finds its own again.
	cmd.Env = append(os.Environ(), "TETHER_DATA="+testDataDir(t))
	out, logs := &testpeers.Buffer{}, &testpeers.Buffer{}
	cmd.Stdout, cmd.Stderr = out, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), out: out, logs: logs}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("%s %v logs:\n%s", filepath.Base(bin), args, logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, err := os.ReadFile(rf)
		if err == nil {
			if err := json.Unmarshal(data, ready); err != nil {
				t.Fatalf("ready file %s: %v", rf, err)
			}
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v\n%s", filepath.Base(bin), cmd.ProcessState, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s", filepath.Base(bin))
		}
	}
}

// startBackend starts an example app node with the given route.
func startBackend(t *testing.T, route string) *proc {
	t.Helper()
	var r struct{ Addr string }
	p := start(t, backendBin, []string{"-route", route, "-addr", "127.0.0.1:0"}, "-ready-file", &r)
	p.addr = r.Addr
	return p
}

type readyInfo struct {
	Admin     string
	Listeners []struct{ Addr string }
}

// startTether runs tether with the given Caddyfile text.
func startTether(t *testing.T, caddyfile string) (*proc, readyInfo) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	var r readyInfo
	p := start(t, tetherBin, []string{"run", "-c", path}, "--ready-file", &r)
	if len(r.Listeners) == 0 {
		t.Fatalf("tether ready file lists no listeners: %+v", r)
	}
	p.addr = r.Listeners[0].Addr
	return p, r
}

// backendsConfig returns "to" arguments for the backends, by route.
func toArgs(bs map[string]*proc) string {
	var parts []string
	for _, route := range sortedKeys(bs) {
		parts = append(parts, route+"=http://"+bs[route].addr)
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]*proc) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

var client = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	Timeout:   15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// get sends GET url with the given Cookie header ("" for none) and returns
// the status and the route that answered (X-Route).
func get(ctx context.Context, url, cookie string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Route"), nil
}

func mustGet(t *testing.T, url, cookie string) (int, string) {
	t.Helper()
	code, route, err := get(t.Context(), url, cookie)
	if err != nil {
		t.Fatalf("GET %s (Cookie %q): %v", url, cookie, err)
	}
	return code, route
}
