package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/tether-proxy/tether/internal/testpeers"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers for the end-to-end tests against real Tomcat 10 nodes
// (scripts/tomcat.sh: jvmRoute tomcat1/tomcat2, AJP with a secret,
// DeltaManager replication, the lab webapp as /lab and
// proxy/ajp/testdata/webapp as /tether) and real Apache httpd + mod_jk
// (scripts/apache-modjk.sh). The Tomcat pair starts once per test binary,
// on the first test that needs it; a test that kills a node starts it again
// before it ends, and needTomcat restarts any node found down. Nothing is
// skipped when Tomcat or Apache cannot start: the test fails.
//
// The test binary's TestMain is not ours to extend, so a watchdog process
// (its own process group, so ^C of go test does not take it down first)
// waits for the test binary to exit and then stops, by their recorded PIDs,
// the Tomcat nodes and any Apache left running, and removes their directory.

const tomcatSecret = "tether-e2e-ajp-secret"

type tomcatNode struct {
	Route, AJP, HTTP string
	PID              int
}

var tomcatPair struct {
	once  sync.Once
	mu    sync.Mutex // one (re)start at a time
	root  string     // repository root
	dir   string     // scripts/tomcat.sh DIR; Apache instances live in DIR/apache-N
	env   []string   // ports and secret for scripts/tomcat.sh
	ports []int      // TC1 http, ajp, tribes, TC2 http, ajp, tribes
	nodes map[string]tomcatNode
	err   error
	nApa  int
}

// needTomcat returns both nodes running, starting them on first use and
// restarting any that a previous test left down.
func needTomcat(t *testing.T) map[string]tomcatNode {
	t.Helper()
	needBinaries(t)
	tomcatPair.once.Do(initTomcat)
	if tomcatPair.err != nil {
		t.Fatalf("Tomcat test nodes: %v", tomcatPair.err)
	}
	tomcatPair.mu.Lock()
	defer tomcatPair.mu.Unlock()
	if err := tomcatStart(); err != nil {
		t.Fatalf("Tomcat test nodes: %v", err)
	}
	return tomcatPair.nodes
}

func initTomcat() {
	root, err := filepath.Abs("../..")
	if err != nil {
		tomcatPair.err = err
		return
	}
	tomcatPair.root = root
	dir, err := os.MkdirTemp("", "tether-e2e-tomcat-")
	if err != nil {
		tomcatPair.err = err
		return
	}
	tomcatPair.dir = dir
	if err := startWatchdog(root, dir); err != nil {
		tomcatPair.err = fmt.Errorf("watchdog: %v", err)
		return
	}
	ports, err := freePorts(6)
	if err != nil {
		tomcatPair.err = err
		return
	}
	tomcatPair.ports = ports
	tomcatPair.env = append(os.Environ(),
		"AJP_SECRET="+tomcatSecret,
		"TOMCAT_EXTRA_WEBAPPS=tether="+filepath.Join(root, "proxy/ajp/testdata/webapp"),
		fmt.Sprintf("TC1_HTTP_PORT=%d", ports[0]), fmt.Sprintf("TC1_AJP_PORT=%d", ports[1]), fmt.Sprintf("TC1_TRIBES_PORT=%d", ports[2]),
		fmt.Sprintf("TC2_HTTP_PORT=%d", ports[3]), fmt.Sprintf("TC2_AJP_PORT=%d", ports[4]), fmt.Sprintf("TC2_TRIBES_PORT=%d", ports[5]),
	)
	tomcatPair.nodes = map[string]tomcatNode{}
}

// startWatchdog starts the process that cleans up after this test binary.
func startWatchdog(root, dir string) error {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done
for a in "$3"/apache-*; do [ -d "$a" ] && bash "$2/scripts/apache-modjk.sh" stop "$a"; done
bash "$2/scripts/tomcat.sh" stop "$3" && rm -rf "$3"`
	cmd := exec.Command("bash", "-c", script, "tether-e2e-watchdog", strconv.Itoa(os.Getpid()), root, dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(dir, "watchdog.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reaped if it ever ends while we run
	return nil
}

// tomcatScript runs scripts/tomcat.sh with the pair's settings.
func tomcatScript(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(tomcatPair.root, "scripts/tomcat.sh")}, args...)...)
	cmd.Env = tomcatPair.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// tomcatStart starts whichever node is not running; tomcatPair.mu is held.
func tomcatStart() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, _, err := tomcatScript(ctx, "status", tomcatPair.dir)
	if err == nil && strings.Count(out, "running ") == 2 && len(tomcatPair.nodes) == 2 {
		return nil
	}
	t0 := time.Now()
	out, errOut, err := tomcatScript(ctx, "start", tomcatPair.dir)
	if err != nil {
		return fmt.Errorf("scripts/tomcat.sh start: %v\n%s%s", err, out, errOut)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "ready" {
			continue
		}
		var n tomcatNode
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "route":
				n.Route = v
			case "ajp":
				n.AJP = v
			case "http":
				n.HTTP = v
			case "pid":
				n.PID, _ = strconv.Atoi(v)
			}
		}
		tomcatPair.nodes[n.Route] = n
	}
	if len(tomcatPair.nodes) != 2 {
		return fmt.Errorf("scripts/tomcat.sh reported %d ready nodes; want 2:\n%s", len(tomcatPair.nodes), out)
	}
	fmt.Fprintf(os.Stderr, "tomcat nodes ready after %v: %s", time.Since(t0).Round(time.Millisecond), out)
	return nil
}

// killTomcat kills one node with SIGKILL, as a crash would.
func killTomcat(t *testing.T, route string) {
	t.Helper()
	tomcatPair.mu.Lock()
	defer tomcatPair.mu.Unlock()
	if out, errOut, err := tomcatScript(t.Context(), "stop", tomcatPair.dir, "-9", route); err != nil {
		t.Fatalf("scripts/tomcat.sh stop -9 %s: %v\n%s%s", route, err, out, errOut)
	}
}

// restartTomcat starts the nodes that are down again (e.g. after killTomcat).
func restartTomcat(t *testing.T) {
	t.Helper()
	tomcatPair.mu.Lock()
	defer tomcatPair.mu.Unlock()
	if err := tomcatStart(); err != nil {
		t.Errorf("restarting Tomcat: %v", err)
	}
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
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
	tomcatPair.mu.Lock()
	tomcatPair.nApa++
	dir := filepath.Join(tomcatPair.dir, fmt.Sprintf("apache-%d", tomcatPair.nApa))
	tomcatPair.mu.Unlock()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(tomcatPair.root, "scripts/apache-modjk.sh")
	cmd := exec.CommandContext(t.Context(), "bash", script, "start", dir)
	cmd.Env = append(append([]string{}, tomcatPair.env...),
		fmt.Sprintf("APACHE_PORT=%d", ports[0]),
		fmt.Sprintf("TC1_AJP_PORT=%d", tomcatPair.ports[1]), fmt.Sprintf("TC2_AJP_PORT=%d", tomcatPair.ports[4]))
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
	a := &apacheJK{dir: dir}
	for _, kv := range strings.Fields(strings.TrimSpace(o.String())) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "addr":
			a.addr = v
		case "workers":
			a.workers = v
		case "uriworkermap":
			a.uriworkers = v
		}
	}
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
func tomcatConfig(nodes map[string]tomcatNode, secret, extra string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:0
	log {
		level warn
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
