package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// Helpers for the end-to-end tests against real Tomcat 10 nodes
// (testpeers.TomcatPair: scripts/tomcat.sh, jvmRoute tomcat1/tomcat2, AJP
// with a secret, DeltaManager replication, the lab webapp as /lab and
// proxy/ajp/testdata/webapp as /tether) and real Apache httpd + mod_jk
// (scripts/apache-modjk.sh). The Tomcat pair starts once per test binary,
// on the first test that needs it; a test that kills a node starts it again
// before it ends, and needTomcat restarts any node found down. Nothing is
// skipped when Tomcat or Apache cannot start: the test fails.
//
// The test binary's TestMain is not ours to extend, so the pair's watchdog
// process stops, once the test binary has exited, the Tomcat nodes and any
// Apache left running (by their recorded PIDs) and removes their directory.

const tomcatSecret = "tether-e2e-ajp-secret"

var tomcatPair struct {
	once sync.Once
	p    *testpeers.TomcatPair // Apache instances live in p.Dir/apache-N
	err  error
	nApa atomic.Int64
}

// needTomcat returns both nodes running, starting them on first use and
// restarting any that a previous test left down.
func needTomcat(t *testing.T) map[string]testpeers.TomcatNode {
	t.Helper()
	needBinaries(t)
	tomcatPair.once.Do(func() {
		tomcatPair.p, tomcatPair.err = testpeers.NewTomcatPair(testpeers.TomcatOptions{
			Secret: tomcatSecret, DirPrefix: "tether-e2e-tomcat-", Watchdog: true, Log: os.Stderr,
		})
	})
	if tomcatPair.err != nil {
		t.Fatalf("Tomcat test nodes: %v", tomcatPair.err)
	}
	if err := tomcatPair.p.Start(); err != nil {
		t.Fatalf("Tomcat test nodes: %v", err)
	}
	return tomcatPair.p.Nodes()
}

// killTomcat kills one node with SIGKILL, as a crash would.
func killTomcat(t *testing.T, route string) {
	t.Helper()
	if err := tomcatPair.p.Kill(t.Context(), route); err != nil {
		t.Fatal(err)
	}
}

// restartTomcat starts the nodes that are down again (e.g. after killTomcat).
func restartTomcat(t *testing.T) {
	t.Helper()
	if err := tomcatPair.p.Start(); err != nil {
		t.Errorf("restarting Tomcat: %v", err)
	}
}

// setMemberState sets a member's state through the admin API at admin
// (host:port) and fails the test unless it answers 200.
func setMemberState(t *testing.T, admin, balancer, member, state string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+admin+"/api/balancers/"+balancer+"/members/"+member+"/state",
		strings.NewReader(`{"state":"`+state+`"}`))
	req.Header.Set("X-Tether-Admin", "e2e") // the admin API's cross-site guard
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("admin API PUT %s/%s state %s: %v", balancer, member, state, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin API PUT %s/%s state %s: %d %s", balancer, member, state, resp.StatusCode, body)
	}
}

// apacheJK is a running Apache httpd + mod_jk started by scripts/apache-modjk.sh.
type apacheJK struct {
	dir, addr, workers, uriworkers string
}

// startApacheJK starts Apache + mod_jk in front of the Tomcat pair; it is
// stopped (by its PID) when the test ends.
func startApacheJK(t *testing.T, extraEnv ...string) *apacheJK {
	t.Helper()
	needTomcat(t)
	dir := filepath.Join(tomcatPair.p.Dir, fmt.Sprintf("apache-%d", tomcatPair.nApa.Add(1)))
	port, err := testpeers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(tomcatPair.p.Root, "scripts/apache-modjk.sh")
	// The pair's environment carries TC1_AJP_PORT and TC2_AJP_PORT, the
	// workers' addresses.
	cmd := exec.CommandContext(t.Context(), "bash", script, "start", dir)
	cmd.Env = append(slices.Clone(tomcatPair.p.Env), fmt.Sprintf("APACHE_PORT=%d", port))
	cmd.Env = append(cmd.Env, extraEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	runErr := cmd.Run()
	t.Cleanup(func() {
		out, err := exec.Command("bash", script, "stop", dir).CombinedOutput()
		if err != nil {
			t.Errorf("scripts/apache-modjk.sh stop: %v\n%s", err, out)
		}
		if t.Failed() {
			for _, f := range []string{"logs/error.log", "logs/mod_jk.log", "logs/access.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					t.Logf("apache %s (last 4 KiB):\n%s", f, tail(string(b), 4096))
				}
			}
		}
	})
	if runErr != nil {
		t.Fatalf("scripts/apache-modjk.sh start: %v\n%s%s", runErr, o.String(), e.String())
	}
	f := testpeers.ReadyFields(o.String())
	a := &apacheJK{dir: dir, addr: f["addr"], workers: f["workers"], uriworkers: f["uriworkermap"]}
	if a.addr == "" || a.workers == "" {
		t.Fatalf("scripts/apache-modjk.sh printed no ready line: %q", o.String())
	}
	return a
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// lines returns the log lines that contain every one of subs.
func logLines(l *testpeers.Buffer, subs ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// startTetherLogged runs tether with the given Caddyfile text, like
// startTether, and also returns its log.
func startTetherLogged(t *testing.T, caddyfile string) (addr string, ready readyInfo, logs *testpeers.Buffer) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	rf := filepath.Join(dir, "ready.json")
	logs = &testpeers.Buffer{}
	cmd := exec.Command(tetherBin, "run", "-c", path, "--ready-file", rf)
	// A data directory of its own: member states one test sets through the
	// admin API (persisted there) must not reach another test's proxy.
	cmd.Env = append(os.Environ(), "TETHER_DATA="+filepath.Join(dir, "data"))
	cmd.Stdout = io.Discard
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tether: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("tether logs:\n%s", tail(logs.String(), 16<<10))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, err := os.ReadFile(rf)
		if err == nil {
			if err := json.Unmarshal(data, &ready); err != nil {
				t.Fatalf("ready file %s: %v", rf, err)
			}
			if len(ready.Listeners) == 0 {
				t.Fatalf("tether ready file lists no listeners: %s", data)
			}
			return ready.Listeners[0].Addr, ready, logs
		}
		select {
		case <-done:
			t.Fatalf("tether exited before it was ready: %v\n%s", cmd.ProcessState, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tether not ready after 60s\n%s", logs.String())
		}
	}
}

// tomcatConfig is a Caddyfile with one balancer "app" over the Tomcat pair
// through AJP, behind a trusted load balancer on 127.0.0.0/8.
func tomcatConfig(nodes map[string]testpeers.TomcatNode, secret, extra string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:0
	log {
		level info
	}
}

http://127.0.0.1:0 {
	trusted_proxies 127.0.0.0/8
	reverse_proxy {
		name app
		to tomcat1=ajp://%s tomcat2=ajp://%s
		ajp_secret %q
		health_uri /lab/info.jsp
		health_interval 1s
		recover_time 2s
		response_header_timeout 10s
%s
	}
}
`, nodes["tomcat1"].AJP, nodes["tomcat2"].AJP, secret, extra)
}

// labResp is one answer of a lab JSP: status, key=value lines, the session
// cookie it set (if any) and the raw body.
type labResp struct {
	status    int
	kv        map[string]string
	setCookie string // JSESSIONID value from Set-Cookie, "" if none
	body      []byte
	header    http.Header
}

func (r labResp) node() string { return r.kv["node"] }

// labDo sends req and parses the lab JSP's answer.
func labDo(t *testing.T, req *http.Request) labResp {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	r := labResp{status: resp.StatusCode, kv: map[string]string{}, body: body, header: resp.Header}
	for line := range strings.Lines(string(body)) {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), "="); ok {
			if _, dup := r.kv[k]; !dup {
				r.kv[k] = v
			}
		}
	}
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			r.setCookie = c.Value
		}
	}
	return r
}

// labGet sends GET base+path with an optional JSESSIONID cookie.
func labGet(t *testing.T, url, session string) labResp {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if session != "" {
		req.Header.Set("Cookie", "JSESSIONID="+session)
	}
	return labDo(t, req)
}

// labSession follows one Tomcat session through a front end (Tether or
// Apache), the way a browser would: it sends the JSESSIONID it was last
// given, by cookie or as ;jsessionid= in the path.
type labSession struct {
	base string // http://host:port
	id   string // current JSESSIONID
	last labResp
}

// get requests /lab/session.jsp for the session (a new one while id is
// "") and takes over any renamed id from Set-Cookie.
func (s *labSession) get(t *testing.T, byPath bool) labResp {
	t.Helper()
	url, cookie := s.base+"/lab/session.jsp", s.id
	if byPath && s.id != "" {
		url, cookie = s.base+"/lab/session.jsp;jsessionid="+s.id, ""
	}
	r := labGet(t, url, cookie)
	if r.setCookie != "" {
		s.id = r.setCookie
	}
	s.last = r
	return r
}
