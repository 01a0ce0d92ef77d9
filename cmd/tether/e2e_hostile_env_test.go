package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The hostile-input tests (issue 12) run one real `tether run` on loopback
// in front of members that record what they receive, replay hostile inputs
// at it and check, for each, what the sender got, what the members got,
// that a well-behaved client was served by every member meanwhile, and that
// Tether's goroutines, descriptors and heap came back to their baseline.

var hostileNoLimits = flag.Bool("hostile.no-limits", false,
	"leave the limits block out of the hostile-input suite's config, to run the suite against a Tether that predates it")

// memberReq is one request a recorder's HTTP parser read.
type memberReq struct {
	Member   string
	Seq      int
	Method   string
	Target   string // the request target as received
	Header   http.Header
	BodyLen  int64
	BodyErr  error // how reading the body ended, nil for a clean end
	WriteErr error // how writing the response ended (the stream endpoint)
	Done     bool  // the handler returned
}

// path is the target's path without the query.
func (r memberReq) path() string {
	p, _, _ := strings.Cut(r.Target, "?")
	return p
}

// rawConn keeps every byte read from a member's connection.
type rawConn struct {
	net.Conn
	mu       sync.Mutex
	raw      []byte
	upgraded bool // the member switched it to a WebSocket tunnel
}

func (c *rawConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.raw = append(c.raw, p[:n]...)
	c.mu.Unlock()
	return n, err
}

func (c *rawConn) bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.raw), c.upgraded
}

// recorder is a member for the hostile-input tests: a net/http server on
// 127.0.0.1 that keeps the raw bytes of each connection and records every
// request it parses, answering 200 "member NAME". It has no timeouts of its
// own, like a member that trusts its proxy: whatever a slow client holds,
// it holds through Tether. Endpoints, below /m/:
//
//	/m/slow?ms=N   reads the body, answers after N ms (default 500)
//	/m/stream      reads the body, then streams up to 1 GiB
//	/m/ws          a WebSocket handshake (version 13), then echoes bytes
//	anything else  reads the body, answers at once
type recorder struct {
	name string
	addr string

	mu     sync.Mutex
	conns  []*rawConn
	reqs   []*memberReq
	hijack []net.Conn
}

type recordingListener struct {
	net.Listener
	r *recorder
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &rawConn{Conn: c}
	l.r.mu.Lock()
	l.r.conns = append(l.r.conns, rc)
	l.r.mu.Unlock()
	return rc, nil
}

func startRecorder(t *testing.T, name string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{name: name, addr: ln.Addr().String()}
	srv := &http.Server{Handler: r, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(recordingListener{ln, r}) }()
	t.Cleanup(func() {
		_ = srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.hijack {
			c.Close()
		}
	})
	return r
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	mr := &memberReq{Member: r.name, Method: req.Method, Target: req.RequestURI, Header: req.Header.Clone()}
	r.mu.Lock()
	mr.Seq = len(r.reqs)
	r.reqs = append(r.reqs, mr)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		mr.Done = true
		r.mu.Unlock()
	}()
	if req.URL.Path == "/m/ws" {
		r.websocket(w, req)
		return
	}
	n, err := io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	mr.BodyLen, mr.BodyErr = n, err
	r.mu.Unlock()
	if err != nil {
		return // a broken body: as a member would, give up on the request
	}
	w.Header().Set("X-Member", r.name)
	switch req.URL.Path {
	case "/m/slow":
		ms, _ := strconv.Atoi(req.URL.Query().Get("ms"))
		if ms <= 0 {
			ms = 500
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-req.Context().Done():
			return
		}
	case "/m/stream":
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 2048)
		rc := http.NewResponseController(w)
		for range (1 << 30) / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				r.mu.Lock()
				mr.WriteErr = err
				r.mu.Unlock()
				return
			}
			_ = rc.Flush()
		}
		return
	}
	_, _ = io.WriteString(w, "member "+r.name+"\n")
}

// websocket answers a version-13 handshake with 101 and echoes what comes
// after it; any other handshake gets 426, as a WebSocket server answers.
func (r *recorder) websocket(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("X-Member", r.name)
	key := req.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || req.Header.Get("Sec-WebSocket-Version") != "13" || key == "" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "member "+r.name+": not a version 13 WebSocket handshake", http.StatusUpgradeRequired)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	r.mu.Lock()
	r.hijack = append(r.hijack, c)
	if rc, ok := c.(*rawConn); ok {
		rc.mu.Lock()
		rc.upgraded = true
		rc.mu.Unlock()
	}
	r.mu.Unlock()
	defer c.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Member: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]), r.name)
	if brw.Flush() != nil {
		return
	}
	_, _ = io.Copy(c, brw) // echo until the tunnel closes
}

// requests returns copies of the requests recorded from seq on.
func (r *recorder) requests(from int) []memberReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]memberReq, 0, max(len(r.reqs)-from, 0))
	for _, mr := range r.reqs[min(from, len(r.reqs)):] {
		out = append(out, *mr)
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) connections() []*rawConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.conns)
}

// framingProblems reads the bytes a member received on one connection as
// HTTP/1.1 requests and reports what another HTTP/1.1 parser could read
// differently from Go's: a line not ended by CRLF, a bare CR, a folded
// header, both Content-Length and Transfer-Encoding, several Content-Length
// values, a Transfer-Encoding other than chunked, a target with a space or a
// control byte, or chunked framing that does not parse. A connection cut in
// the middle of a request (Tether gave up on it) is not a problem.
func framingProblems(raw []byte, upgraded bool) []string {
	var probs []string
	for pos := 0; pos < len(raw); {
		end := bytes.Index(raw[pos:], []byte("\r\n\r\n"))
		if end < 0 {
			if bytes.Contains(raw[pos:], []byte("\n\n")) {
				probs = append(probs, fmt.Sprintf("offset %d: a request head ended by bare LFs", pos))
			}
			break
		}
		head := raw[pos : pos+end]
		lines := strings.Split(string(head), "\r\n")
		what := fmt.Sprintf("offset %d (%.60q)", pos, lines[0])
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\n") {
				probs = append(probs, what+": a bare CR or LF in the head")
			}
		}
		if f := strings.Split(lines[0], " "); len(f) != 3 || strings.ContainsFunc(f[1], func(r rune) bool { return r <= ' ' || r == 0x7f }) || !strings.HasPrefix(f[2], "HTTP/1.") {
			probs = append(probs, what+": not a request line of three single-space-separated parts")
		}
		var cl, te []string
		isUpgrade := false
		for _, l := range lines[1:] {
			if l == "" || l[0] == ' ' || l[0] == '\t' {
				probs = append(probs, what+": a folded or empty header line")
				continue
			}
			name, value, ok := strings.Cut(l, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				probs = append(probs, fmt.Sprintf("%s: malformed header line %.60q", what, l))
				continue
			}
			value = strings.TrimSpace(value)
			switch textproto.CanonicalMIMEHeaderKey(name) {
			case "Content-Length":
				cl = append(cl, value)
			case "Transfer-Encoding":
				te = append(te, value)
			case "Upgrade":
				isUpgrade = true
			}
		}
		pos += end + 4
		switch {
		case len(cl) > 0 && len(te) > 0:
			probs = append(probs, what+": both Content-Length and Transfer-Encoding")
		case len(cl) > 1:
			probs = append(probs, fmt.Sprintf("%s: Content-Length %q", what, cl))
		case len(te) > 1 || len(te) == 1 && !strings.EqualFold(te[0], "chunked"):
			probs = append(probs, fmt.Sprintf("%s: Transfer-Encoding %q", what, te))
		}
		if upgraded && isUpgrade {
			break // a tunnel from here on
		}
		switch {
		case len(te) > 0:
			br := bytes.NewReader(raw[pos:])
			_, err := io.Copy(io.Discard, httputil.NewChunkedReader(br))
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return probs
			}
			if err != nil {
				return append(probs, fmt.Sprintf("%s: chunked body: %v", what, err))
			}
			pos = len(raw) - br.Len()
			// Trailer fields, then the empty line.
			for {
				i := bytes.Index(raw[pos:], []byte("\r\n"))
				if i < 0 {
					return probs
				}
				pos += i + 2
				if i == 0 {
					break
				}
			}
		case len(cl) == 1:
			n, err := strconv.ParseInt(cl[0], 10, 64)
			if err != nil || n < 0 {
				return append(probs, fmt.Sprintf("%s: Content-Length %q", what, cl[0]))
			}
			if int64(len(raw)-pos) < n {
				return probs
			}
			pos += int(n)
		}
	}
	return probs
}

// procStats are what Tether's /metrics says about the process.
type procStats struct {
	goroutines, fds, heap float64
	failures              float64 // tether_member_failures_total, all members
}

func (s procStats) String() string {
	return fmt.Sprintf("%.0f goroutines, %.0f fds, %.1f MiB heap in use", s.goroutines, s.fds, s.heap/(1<<20))
}

// Slack over the baseline within which the process counts as back. The
// baseline is taken with no client connected and no idle member connection
// (they close after the balancer's 1s idle_timeout). Back means:
//   - goroutines within 6: the scrape's own connection and the timers that
//     wake now and then (health, certificate maintenance, cluster counters)
//     come and go; a leak of one per request, or one per case (the baseline
//     is never moved), shows within a few cases;
//   - descriptors within 3: the scrape's own connection, and a connection
//     closing as the scrape runs;
//   - heap in use within twice the baseline plus 16 MiB: with GOGC=100 a
//     leak-free heap grows to about twice its live size before a collection
//     (each scrape allocates, so collections keep happening while we poll);
//     a case that retained what it was sent (1 MB bodies, 64 MB of decoded
//     headers) stays above that.
const (
	slackGoroutines = 6
	slackFDs        = 3
	slackHeap       = 16 << 20
)

func (b procStats) near(s procStats) bool {
	return s.goroutines <= b.goroutines+slackGoroutines && s.fds <= b.fds+slackFDs && s.heap <= 2*b.heap+slackHeap
}

// hostileEnv is one Tether with an http and an https listener on one site:
// file_server on a temp root, a combined access log, trusted_proxies that
// leave out 127.0.0.1, a balancer of three recorders mounted on /m/*, and
// the admin API.
type hostileEnv struct {
	t         *testing.T
	members   []*recorder
	h1, h2    string // the http and https listeners
	admin     string
	root      string // the file server's root
	accessLog string
	roots     *x509.CertPool // Tether's internal CA
	scrape    *http.Client
	good      *goodClient
	base      procStats
}

type hostileReady struct {
	Admin     string
	Listeners []struct {
		Addr  string
		HTTPS bool
	}
}

// hostileLimits are small, so that timeout and size cases run quickly.
const hostileLimits = `
	limits {
		header_timeout 3s
		body_timeout 2s
		write_timeout 2s
		idle_timeout 30s
		max_header_size 64KiB
		max_body_size 1MiB
		max_uri_length 8KiB
	}`

// startHostileEnv starts the members and Tether. balancerExtra goes into the
// balancer block.
func startHostileEnv(t *testing.T, balancerExtra string) *hostileEnv {
	t.Helper()
	dir := t.TempDir()
	e := &hostileEnv{t: t, root: filepath.Join(dir, "root"), accessLog: filepath.Join(dir, "access.log")}
	e.makeRoot(dir)
	var to []string
	for _, name := range []string{"m1", "m2", "m3"} {
		r := startRecorder(t, name)
		e.members = append(e.members, r)
		to = append(to, name+"=http://"+r.addr)
	}
	limits := hostileLimits
	if *hostileNoLimits {
		limits = ""
	}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:0
	shutdown_timeout 5s
	log {
		level warn
	}%s
}

http://127.0.0.1:0, https://127.0.0.1:0 {
	tls internal
	trusted_proxies 192.0.2.0/24
	access_log %s combined
	file_server {
		root %s
	}
	reverse_proxy /m/* {
		name hostile
		to %s
		idle_timeout 1s
%s
	}
}
`, limits, e.accessLog, e.root, strings.Join(to, " "), balancerExtra)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var ready hostileReady
	start(t, tetherBin, []string{"run", "-c", path}, "--ready-file", &ready)
	for _, l := range ready.Listeners {
		if l.HTTPS {
			e.h2 = l.Addr
		} else {
			e.h1 = l.Addr
		}
	}
	e.admin = ready.Admin
	if e.h1 == "" || e.h2 == "" || e.admin == "" {
		t.Fatalf("ready file %+v: want an http and an https listener and the admin API", ready)
	}
	pem, err := os.ReadFile(filepath.Join(testDataDir(t), "tether", "ca", "root.crt"))
	if err != nil {
		t.Fatalf("tether's internal CA root: %v", err)
	}
	e.roots = x509.NewCertPool()
	if !e.roots.AppendCertsFromPEM(pem) {
		t.Fatal("tether's internal CA root: no certificate in it")
	}
	e.scrape = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}
	e.good = newGoodClient(e)
	t.Cleanup(e.good.close)
	return e
}

// makeRoot lays out the file server's root: files, a .git directory, and
// links that lead out of the root or into the .git directory.
func (e *hostileEnv) makeRoot(dir string) {
	t := e.t
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{e.root, filepath.Join(e.root, ".git"), filepath.Join(e.root, "dir"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(e.root, "index.html"):         "<p>hostile-input suite</p>\n",
		filepath.Join(e.root, "dir", "index.html"):  "<p>dir</p>\n",
		filepath.Join(e.root, "big.bin"):            strings.Repeat("0123456789abcdef", 512), // 8 KiB
		filepath.Join(e.root, ".git", "config"):     "[core]\n\tsecret = dot-git-secret\n",
		filepath.Join(outside, "secret.txt"):        "outside-root-secret\n",
		filepath.Join(outside, "nested", "x.txt"):   "outside-root-secret\n",
		filepath.Join(e.root, "dir", "plain.txt"):   "plain\n",
		filepath.Join(e.root, "dir", "second.html"): "<p>second</p>\n",
	}
	for p, body := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(e.root, "escape"):      outside,                              // a directory out of the root
		filepath.Join(e.root, "secret.txt"):  filepath.Join(outside, "secret.txt"), // a file out of the root
		filepath.Join(e.root, "relative"):    "../outside",                         // the same, relative
		filepath.Join(e.root, "gitlink"):     ".git",                               // a plain name for a dot directory
		filepath.Join(e.root, "gitconfig"):   filepath.Join(".git", "config"),      // and for a dot file
		filepath.Join(e.root, "passwd-link"): "/etc/passwd",
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
}

// stats scrapes Tether's /metrics.
func (e *hostileEnv) stats() (procStats, error) {
	resp, err := e.scrape.Get("http://" + e.admin + "/metrics")
	if err != nil {
		return procStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return procStats{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var s procStats
	seen := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = line[:i]
			_, rest, _ = strings.Cut(line[strings.LastIndexByte(line, '}'):], " ")
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			s.goroutines, seen = v, seen|1
		case "process_open_fds":
			s.fds, seen = v, seen|2
		case "go_memstats_heap_inuse_bytes":
			s.heap, seen = v, seen|4
		case "tether_member_failures_total":
			s.failures += v
		}
	}
	if err := sc.Err(); err != nil {
		return procStats{}, err
	}
	if seen != 7 {
		return procStats{}, errors.New("/metrics lacks go_goroutines, process_open_fds or go_memstats_heap_inuse_bytes")
	}
	return s, nil
}

func (e *hostileEnv) mustStats(t *testing.T) procStats {
	t.Helper()
	s, err := e.stats()
	if err != nil {
		t.Fatalf("tether /metrics: %v", err)
	}
	return s
}

// takeBaseline warms Tether up (both listeners, every member) and records
// the process's quiet state: the goroutine and descriptor counts once they
// have stayed the same over five scrapes in a row.
func (e *hostileEnv) takeBaseline(t *testing.T) {
	t.Helper()
	run := e.good.start(e.members)
	n, _, bad := run.finish()
	if len(bad) > 0 {
		t.Fatalf("the well-behaved client's warm-up: %d of %d requests failed: %s", len(bad), n, strings.Join(bad, "; "))
	}
	e.good.closeIdle()
	var last []procStats
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := e.mustStats(t)
		last = append(last, s)
		if len(last) > 5 {
			last = last[1:]
		}
		if len(last) == 5 && !slices.ContainsFunc(last, func(x procStats) bool {
			return x.goroutines != s.goroutines || x.fds != s.fds
		}) {
			for _, x := range last {
				s.heap = max(s.heap, x.heap)
			}
			e.base = s
			t.Logf("baseline: %v", s)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tether's goroutines and descriptors did not settle in 60s: %v", last)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitBack polls /metrics until the process is near its baseline again.
func (e *hostileEnv) waitBack(t *testing.T, d time.Duration) {
	t.Helper()
	e.good.closeIdle()
	deadline := time.Now().Add(d)
	var s procStats
	for {
		var err error
		if s, err = e.stats(); err == nil && e.base.near(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("tether not back near its baseline after %v: %v (scrape error %v); baseline %v", d, s, err, e.base)
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// membersDown lists the balancer's members that /api/status shows unhealthy
// or not active.
func (e *hostileEnv) membersDown(t *testing.T) []string {
	t.Helper()
	var down []string
	st := status(t, e.admin)
	if len(st.Balancers) != 1 || len(st.Balancers[0].Members) != len(e.members) {
		t.Fatalf("/api/status balancers = %+v; want one balancer of %d members", st.Balancers, len(e.members))
	}
	for _, m := range st.Balancers[0].Members {
		if !m.Healthy || m.State != "active" {
			down = append(down, fmt.Sprintf("%s (%s, healthy %v: %s)", m.Name, m.State, m.Healthy, m.Reason))
		}
	}
	return down
}

// marks are the recorders' request counts and the access log's size at
// some moment: what happened after can be read back.
type marks struct {
	reqs []int
	log  int64
}

func (e *hostileEnv) mark() marks {
	m := marks{}
	for _, r := range e.members {
		m.reqs = append(m.reqs, r.count())
	}
	if fi, err := os.Stat(e.accessLog); err == nil {
		m.log = fi.Size()
	}
	return m
}

// memberRequests returns what the members parsed since m.
func (e *hostileEnv) memberRequests(m marks) []memberReq {
	var out []memberReq
	for i, r := range e.members {
		out = append(out, r.requests(m.reqs[i])...)
	}
	return out
}

// logLines returns the complete access-log lines written since m.
func (e *hostileEnv) logLines(m marks) []string {
	data, err := os.ReadFile(e.accessLog)
	if err != nil || int64(len(data)) < m.log {
		return nil
	}
	data = data[m.log:]
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	} else {
		return nil
	}
	return strings.Split(string(data), "\n")
}

// waitLogLines polls the access log until want(lines) holds, lines being
// those written since m that contain marker.
func (e *hostileEnv) waitLogLines(t *testing.T, m marks, marker string, what string, want func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got []string
		for _, l := range e.logLines(m) {
			if strings.Contains(l, marker) {
				got = append(got, l)
			}
		}
		if want(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Errorf("access log lines with %q after 20s: %q; want %s", marker, got, what)
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// combinedLine is Apache's combined format with every quoted field escaped
// (\" \\ \xhh): no field can end early or start a line.
var combinedLine = regexp.MustCompile(`^\S+ \S+ \S+ \[[^\]]+\] "(?:[^"\\\x00-\x1f\x7f]|\\.)*" \d{3} (?:\d+|-) "(?:[^"\\\x00-\x1f\x7f]|\\.)*" "(?:[^"\\\x00-\x1f\x7f]|\\.)*"$`)

func (e *hostileEnv) memberNames() []string {
	var names []string
	for _, r := range e.members {
		names = append(names, r.name)
	}
	return names
}

// tlsConfig trusts Tether's internal CA.
func (e *hostileEnv) tlsConfig(protos ...string) *tls.Config {
	return &tls.Config{RootCAs: e.roots, NextProtos: protos}
}

// goodClient is the well-behaved client: GETs on /m/good, alternately over
// HTTP/1.1 (the http listener) and HTTP/2 (the https listener).
type goodClient struct {
	e      *hostileEnv
	h1, h2 *http.Client
}

func newGoodClient(e *hostileEnv) *goodClient {
	h2t := &http.Transport{TLSClientConfig: e.tlsConfig(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4}
	return &goodClient{
		e:  e,
		h1: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 20 * time.Second},
		h2: &http.Client{Transport: h2t, Timeout: 20 * time.Second},
	}
}

func (g *goodClient) closeIdle() {
	g.h1.CloseIdleConnections()
	g.h2.CloseIdleConnections()
}

func (g *goodClient) close() { g.closeIdle() }

// goodRun is the client running in the background.
type goodRun struct {
	stop chan struct{}
	done chan struct{}
	want []string // members every one of which must answer

	mu   sync.Mutex
	n    int
	seen map[string]int
	bad  []string
}

// start runs the client until finish; finish waits until every member in
// want has answered it at least once since start (at most 90 requests
// more), so that "every member served it meanwhile" is not left to chance.
func (g *goodClient) start(want []*recorder) *goodRun {
	run := &goodRun{stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]int{}}
	for _, r := range want {
		run.want = append(run.want, r.name)
	}
	go func() {
		defer close(run.done)
		stopping, extra := false, 0
		for i := 0; ; i++ {
			if !stopping {
				select {
				case <-run.stop:
					stopping = true
				default:
				}
			}
			if stopping {
				if run.allSeen() || extra >= 90 {
					return
				}
				extra++
			}
			code, member, err := g.get(i)
			run.mu.Lock()
			run.n++
			if err != nil || code != http.StatusOK || member == "" {
				if len(run.bad) < 8 {
					run.bad = append(run.bad, fmt.Sprintf("request %d (%s): status %d from %q, %v", i, []string{"HTTP/1.1", "HTTP/2"}[i%2], code, member, err))
				} else {
					run.bad[7] = "…"
				}
			} else {
				run.seen[member]++
			}
			run.mu.Unlock()
			time.Sleep(10 * time.Millisecond) // pace it: it is a client, not a load test
		}
	}()
	return run
}

func (run *goodRun) allSeen() bool {
	run.mu.Lock()
	defer run.mu.Unlock()
	for _, m := range run.want {
		if run.seen[m] == 0 {
			return false
		}
	}
	return true
}

// finish stops the client and returns how many requests it made, how many
// each member answered, and the failures.
func (run *goodRun) finish() (int, map[string]int, []string) {
	close(run.stop)
	<-run.done
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.n, maps.Clone(run.seen), slices.Clone(run.bad)
}

// get is request i of the good client.
func (g *goodClient) get(i int) (int, string, error) {
	c, base := g.h1, "http://"+g.e.h1
	if i%2 == 1 {
		c, base = g.h2, "https://"+g.e.h2
	}
	resp, err := c.Get(base + "/m/good?i=" + strconv.Itoa(i))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	member := resp.Header.Get("X-Member")
	if err == nil && resp.StatusCode == http.StatusOK && string(body) != "member "+member+"\n" {
		err = fmt.Errorf("body %.80q", body)
	}
	return resp.StatusCode, member, err
}
