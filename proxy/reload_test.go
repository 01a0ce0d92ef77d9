package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
)

// openFDs returns what each of this process's file descriptors points to.
func openFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list file descriptors: %v", err)
	}
	var out []string
	for _, e := range ents {
		if to, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil {
			out = append(out, to) // the directory's own descriptor is gone by now
		}
	}
	return out
}

// nonSockets returns fds without the sockets (client connections close
// asynchronously), sorted.
func nonSockets(fds []string) []string {
	var out []string
	for _, f := range fds {
		if !strings.HasPrefix(f, "socket:") {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// fdsTo counts this process's descriptors open on path.
func fdsTo(t *testing.T, path string) int {
	t.Helper()
	n := 0
	for _, to := range openFDs(t) {
		if to == path {
			n++
		}
	}
	return n
}

// withoutGC turns the garbage collector off for the test: an *os.File
// nothing references is closed by its finalizer, which would hide a file
// the proxy forgot to close.
func withoutGC(t *testing.T) {
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// reloadSrc parses src and reloads s with it.
func reloadSrc(t *testing.T, s *Server, src string) error {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return s.Reload(cfg)
}

// noKeepAlive is a client whose connections close after each request, so
// that they do not count among the descriptors a test watches.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func getNoKeepAlive(t *testing.T, url string) {
	t.Helper()
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// 40 reloads, some rejected (by the listener check after the new config
// was built, and by New itself half way), with file access logs on three
// sites, leave the process's descriptors where they were: each path is
// open once, by whichever config logs there, and every request's line is
// in the file its config named.
func TestReloadReleasesAccessLogFiles(t *testing.T) {
	withoutGC(t)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	app := newBackend(t, "tomcat1", nil)
	path := func(name string) string { return filepath.Join(dir, name) }
	// mk builds three sites logging to first, b.log and c.log; extra adds
	// a fourth site (a listener more: refused after New), learn gives the
	// third site's balancer sticky learn, which New refuses without a
	// session table (after the first two sites opened their logs).
	mk := func(first string, extra, learn bool) string {
		var b strings.Builder
		b.WriteString("{\n\tadmin off\n}\n")
		for i, log := range []string{first, "b.log json", "c.log console"} {
			opt := ""
			if learn && i == 2 {
				opt = "\t\tsticky learn JSESSIONID\n"
			}
			fmt.Fprintf(&b, "http://127.0.0.%d:0 {\n\taccess_log %s\n\treverse_proxy {\n\t\tname b%d\n\t\tto t1=http://%s\n%s\t}\n}\n",
				i+1, filepath.Join(dir, log), i, app.hostport(), opt)
		}
		if extra {
			fmt.Fprintf(&b, "http://127.0.0.4:0 {\n\taccess_log %s\n}\n", path("d.log"))
		}
		return b.String()
	}
	s, site := startProxy(t, mk("a.log combined", false, false), io.Discard)
	http.DefaultClient.CloseIdleConnections()
	getNoKeepAlive(t, site+"/warm") // Tether's connection to the member, kept by every reload
	base, baseFiles := len(openFDs(t)), nonSockets(openFDs(t))
	t.Logf("descriptors before the reloads: %d (%d not sockets)", base, len(baseFiles))

	requests := 1 // /warm
	firstLog := "a.log"
	for i := range 40 {
		var err error
		switch i % 4 {
		case 0: // the same config: every path shared
			err = reloadSrc(t, s, mk(firstLog+" combined", false, false))
		case 1: // the first site moves between a.log and a2.log
			firstLog = map[string]string{"a.log": "a2.log", "a2.log": "a.log"}[firstLog]
			err = reloadSrc(t, s, mk(firstLog+" combined", false, false))
		case 2: // refused after New: a new listener; e.log and d.log only this config opened
			if err = reloadSrc(t, s, mk("e.log combined", true, false)); err == nil {
				t.Fatalf("reload %d adding a listener was accepted", i)
			}
			err = nil
		case 3: // New fails on the third site, after f.log and b.log were acquired
			if err = reloadSrc(t, s, mk("f.log combined", false, true)); err == nil {
				t.Fatalf("reload %d with sticky learn and no session table was accepted", i)
			}
			err = nil
		}
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		getNoKeepAlive(t, site+fmt.Sprintf("/r%d", i))
		requests++
	}

	for _, name := range []string{"a.log", "a2.log", "b.log", "c.log", "d.log", "e.log", "f.log"} {
		want := 0
		if name == firstLog || name == "b.log" || name == "c.log" {
			want = 1 // the current config's
		}
		if got := fdsTo(t, path(name)); got != want {
			t.Errorf("after 40 reloads %s is open %d times; want %d", name, got, want)
		}
	}
	var now int
	deadline := time.Now().Add(5 * time.Second)
	for now = len(openFDs(t)); now > base && time.Now().Before(deadline); now = len(openFDs(t)) {
		time.Sleep(10 * time.Millisecond) // a closed client connection's server side closes a moment later
	}
	if now > base {
		t.Errorf("after 40 reloads %d descriptors are open; want at most the %d before:\n%s", now, base, strings.Join(openFDs(t), "\n"))
	}
	if files := nonSockets(openFDs(t)); !slices.Equal(files, baseFiles) {
		t.Errorf("after 40 reloads the descriptors other than sockets are\n%s\nwant as before\n%s", strings.Join(files, "\n"), strings.Join(baseFiles, "\n"))
	}
	t.Logf("descriptors after 40 reloads (20 applied, 20 refused) and %d requests: %d (%d not sockets)", requests, now, len(nonSockets(openFDs(t))))

	lines := 0
	for _, name := range []string{"a.log", "a2.log"} {
		data, _ := os.ReadFile(path(name))
		lines += strings.Count(string(data), "\n")
	}
	if lines != requests {
		t.Errorf("the first site's logs hold %d lines; want %d, one per request", lines, requests)
	}
}

// A request that began before a reload writes its line to the file its
// config named, which stays open until then and is closed after.
func TestReloadKeepsLogOfRequestInFlight(t *testing.T) {
	withoutGC(t)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	arrived, release := make(chan struct{}), make(chan struct{})
	app := newBackend(t, "tomcat1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		io.WriteString(w, "ok\n")
	})
	mk := func(log string) string {
		return fmt.Sprintf("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\taccess_log %s combined\n\treverse_proxy {\n\t\tname app\n\t\tto t1=http://%s\n\t}\n}\n",
			filepath.Join(dir, log), app.hostport())
	}
	oldLog, newLog := filepath.Join(dir, "old.log"), filepath.Join(dir, "new.log")
	s, site := startProxy(t, mk("old.log"), io.Discard)

	done := make(chan error, 1)
	go func() {
		resp, err := noKeepAlive.Get(site + "/slow")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	<-arrived
	if err := reloadSrc(t, s, mk("new.log")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	getNoKeepAlive(t, site+"/after")
	if n := fdsTo(t, oldLog); n != 1 {
		t.Errorf("with a request of the old config in flight, old.log is open %d times; want 1", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the request in flight across the reload: %v", err)
	}
	testpeers.WaitUntil(t, 5*time.Second, "old.log closed", func() bool { return fdsTo(t, oldLog) == 0 })
	if n := fdsTo(t, newLog); n != 1 {
		t.Errorf("new.log is open %d times; want 1", n)
	}
	old, _ := os.ReadFile(oldLog)
	if !strings.Contains(string(old), "GET /slow ") || strings.Count(string(old), "\n") != 1 {
		t.Errorf("old.log = %q; want the line of the request in flight, only", old)
	}
	nw, _ := os.ReadFile(newLog)
	if !strings.Contains(string(nw), "GET /after ") || strings.Contains(string(nw), "/slow") {
		t.Errorf("new.log = %q; want the request made after the reload, only", nw)
	}
}

// connCounter counts a test server's open connections.
type connCounter struct {
	mu   sync.Mutex
	open int
}

func (c *connCounter) track(_ net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateNew:
		c.open++
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
}

func (c *connCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// Members a reload drops (an HTTP one and an AJP one) get their idle
// connections closed at once; the members it keeps keep theirs.
func TestReloadClosesDroppedMembersConnections(t *testing.T) {
	var kept, dropped connCounter
	serve := func(c *connCounter) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
		srv.Config.ConnState = c.track
		srv.Start()
		t.Cleanup(srv.Close)
		return srv
	}
	keptSrv, droppedSrv := serve(&kept), serve(&dropped)
	ajpM := newAJPMember(t)
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	mk := func(withDropped bool) string {
		var b strings.Builder
		b.WriteString("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n")
		if withDropped {
			fmt.Fprintf(&b, "\treverse_proxy /h/* {\n\t\tname h\n\t\tto d1=http://%s\n\t}\n", host(droppedSrv))
			fmt.Fprintf(&b, "\treverse_proxy /a/* {\n\t\tname a\n\t\tto a1=ajp://%s\n\t}\n", ajpM.addr())
		}
		fmt.Fprintf(&b, "\treverse_proxy {\n\t\tname k\n\t\tto k1=http://%s\n\t}\n}\n", host(keptSrv))
		return b.String()
	}
	s, site := startProxyOpts(t, mk(true), Options{Logger: zerolog.New(io.Discard)}, nil)
	for _, p := range []string{"/h/x", "/a/x", "/k"} {
		getNoKeepAlive(t, site+p) // Tether keeps its member connection
	}
	if kept.count() != 1 || dropped.count() != 1 || ajpM.openConns() != 1 {
		t.Fatalf("before the reload: member connections %d kept, %d http, %d ajp; want 1 each", kept.count(), dropped.count(), ajpM.openConns())
	}
	if err := reloadSrc(t, s, mk(false)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	testpeers.WaitUntil(t, 5*time.Second, "the dropped HTTP member's connection closed", func() bool { return dropped.count() == 0 })
	testpeers.WaitUntil(t, 5*time.Second, "the dropped AJP member's connection closed", func() bool { return ajpM.openConns() == 0 })
	if n := kept.count(); n != 1 {
		t.Errorf("the kept member has %d connections from Tether; want its 1 kept", n)
	}
}

// A reload after log rotation (the file renamed away) writes to a new file
// at the path, as before files were shared, and closes the rotated one.
func TestReloadReopensRotatedLog(t *testing.T) {
	withoutGC(t)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	app := newBackend(t, "tomcat1", nil)
	logf := filepath.Join(dir, "access.log")
	src := fmt.Sprintf("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\taccess_log %s combined\n\treverse_proxy {\n\t\tname app\n\t\tto t1=http://%s\n\t}\n}\n", logf, app.hostport())
	s, site := startProxy(t, src, io.Discard)
	getNoKeepAlive(t, site+"/before")
	testpeers.WaitUntil(t, 5*time.Second, "the first line", func() bool { data, _ := os.ReadFile(logf); return len(data) > 0 })
	if err := os.Rename(logf, logf+".1"); err != nil {
		t.Fatal(err)
	}
	if err := reloadSrc(t, s, src); err != nil {
		t.Fatalf("reload: %v", err)
	}
	getNoKeepAlive(t, site+"/after")
	testpeers.WaitUntil(t, 5*time.Second, "a line in the new file", func() bool { data, _ := os.ReadFile(logf); return len(data) > 0 })
	rotated, _ := os.ReadFile(logf + ".1")
	current, _ := os.ReadFile(logf)
	if !strings.Contains(string(rotated), "/before") || strings.Contains(string(rotated), "/after") {
		t.Errorf("rotated file = %q; want the line from before the reload only", rotated)
	}
	if !strings.Contains(string(current), "/after") {
		t.Errorf("new file = %q; want the line from after the reload", current)
	}
	if n := fdsTo(t, logf+".1"); n != 0 {
		t.Errorf("the rotated file is still open %d times", n)
	}
	if n := fdsTo(t, logf); n != 1 {
		t.Errorf("the new file is open %d times; want 1", n)
	}
}
