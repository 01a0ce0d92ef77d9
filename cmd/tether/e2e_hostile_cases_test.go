package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The corpus cases that need more than one raw request and a status.

// waitMemberDone waits until a member has parsed a request for target and
// every such request's handler has returned: the member's connection is no
// longer held for it.
func (e *hostileEnv) waitMemberDone(t *testing.T, target string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		seen, done := 0, 0
		for _, r := range e.members {
			for _, mr := range r.requests(0) {
				if mr.Target == target {
					seen++
					if mr.Done {
						done++
					}
				}
			}
		}
		if seen > 0 && seen == done {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after %v, members have %d requests for %s, %d of them finished; want the member released", d, seen, target, done)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caseSlowPost: a body that pauses 3 s between bytes, longer than
// body_timeout (2s), gets 408 and the member's connection is released.
func caseSlowPost(t *testing.T, e *hostileEnv, _ string) {
	const target = "/m/slow?ms=1&case=slow-post"
	c, err := e.dialH1(h1Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(head("POST", target, "Content-Length: 100") + "x")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	out := readH1(c, 1)
	wantStatus(t, "a body sending a byte every 3s (body_timeout 2s)", out, http.StatusRequestTimeout)
	e.waitMemberDone(t, target, 30*time.Second)
}

// caseNeverReads: a client that asks for a long answer and reads nothing
// is cut off after write_timeout (2s): the member's connection is released
// and the client's closed.
func caseNeverReads(t *testing.T, e *hostileEnv, _ string) {
	const target = "/m/stream?case=never-reads"
	c, err := net.DialTimeout("tcp", e.h1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The socket buffers are left at their defaults: Tether's writes block
	// once they are full (a few MB), and what they hold drains at once when
	// the client reads at last.
	if _, err := c.Write([]byte(head("GET", target))); err != nil {
		t.Fatal(err)
	}
	e.waitMemberDone(t, target, 60*time.Second)
	// Tether closed the connection: reading now gets what the socket
	// buffers held, then the end, not a stream without end.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if isTimeout(err) {
		t.Errorf("the client that read nothing: still receiving after 30s more (%d bytes); want its connection closed", n)
	}
	t.Logf("never-reads: %d bytes were still in the socket buffers, then %v", n, err)
}

// caseH2NeverReads: the same over HTTP/2, with a zero stream window: the
// stream is reset or the connection closed, and the member released.
func caseH2NeverReads(t *testing.T, e *hostileEnv, _ string) {
	const target = "/m/stream?case=h2-never-reads"
	h, err := e.dialH2(4096, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	if err := h.request(1, h.fields("GET", target), nil); err != nil {
		t.Fatal(err)
	}
	e.waitMemberDone(t, target, 60*time.Second)
	var o outcome
	for o = h.read(1, 30*time.Second); o.status != 0 && !o.rst && !o.closed && o.end == nil; o = h.read(1, 30*time.Second) {
		// HEADERS came; go on until the stream ends.
	}
	if !o.rst && !o.closed {
		t.Errorf("a stream whose client gives no window: got %v; want it reset or the connection closed", o)
	}
}

// caseAdminRebinding: the admin API answers only requests for its own
// address or a loopback name (403 otherwise, before any handler runs).
func caseAdminRebinding(t *testing.T, e *hostileEnv, _ string) {
	_, port, _ := net.SplitHostPort(e.admin)
	adm := h1Opts{addr: e.admin, maxResps: 1}
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1.evil.example:" + port, "localhost.evil.example"} {
		for _, target := range []string{"/api/status", "/metrics", "/"} {
			out := e.send(t, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n", adm)
			wantStatus(t, "GET "+target+" with Host "+host, out, http.StatusForbidden)
		}
	}
	body := `{"state":"stopped"}`
	out := e.send(t, fmt.Sprintf("PUT /api/balancers/hostile/members/m1/state HTTP/1.1\r\nHost: evil.example\r\nX-Tether-Admin: 1\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body), adm)
	wantStatus(t, "PUT a member state with Host evil.example", out, http.StatusForbidden)
	out = e.send(t, "POST /api/reload HTTP/1.1\r\nHost: evil.example\r\nX-Tether-Admin: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", adm)
	wantStatus(t, "POST /api/reload with Host evil.example", out, http.StatusForbidden)
	if st := memberState(t, e.admin, "hostile", "m1"); st != "active" {
		t.Errorf("m1 is %s after a PUT for another host; want it left active", st)
	}
	// Its own address and loopback names are served.
	for _, host := range []string{e.admin, "localhost:" + port, "[::1]:" + port, "localhost"} {
		out := e.send(t, "GET /api/status HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n", adm)
		wantStatus(t, "GET /api/status with Host "+host, out, http.StatusOK)
	}
}

// fileCase GETs each target from the file server and checks the answer.
func fileCase(name string, targets []string, check func(t *testing.T, target string, o outcome)) hostileCase {
	return hostileCase{name: name, run: func(t *testing.T, e *hostileEnv, _ string) {
		for _, target := range targets {
			check(t, target, e.send(t, head("GET", target), h1Opts{maxResps: 1}))
		}
	}}
}

// refusedFile: not served (400/403/404/414 as listed), never a 500, and
// nothing of the secret in the answer.
func refusedFile(want []int, secrets ...string) func(t *testing.T, target string, o outcome) {
	return func(t *testing.T, target string, o outcome) {
		t.Helper()
		wantStatus(t, "GET "+target, o, want...)
		for _, s := range secrets {
			if bytes.Contains(o.body, []byte(s)) {
				t.Errorf("GET %s: the answer carries %q, from outside the root or a dot file", target, s)
			}
		}
	}
}

func fileServerCases() []hostileCase {
	const outside, dotgit, passwd = "outside-root-secret", "dot-git-secret", "root:x:0"
	return []hostileCase{
		fileCase("file-open-redirect", []string{"/%2fevil.example/..%2f..", "/%5cevil.example/..%2f..", "//evil.example/..%2f..%2fdir",
			"/%2f%2fevil.example%2f..%2f..%2fdir", "/dir%2f%2fevil.example%2f..%2f.."}, func(t *testing.T, target string, o outcome) {
			if o.status == 0 || o.status >= 500 {
				t.Errorf("GET %s: got %v; want an answer, not a 5xx", target, o)
			}
			if loc := o.header.Get("Location"); loc != "" {
				u, err := url.Parse(loc)
				if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
					t.Errorf("GET %s: Location %q; want a path beginning with exactly one /", target, loc)
				}
			}
		}),
		fileCase("file-symlink-out-of-root", []string{"/escape/secret.txt", "/secret.txt", "/relative/secret.txt", "/escape/nested/x.txt", "/passwd-link", "/escape/"},
			refusedFile([]int{403, 404}, outside, passwd)),
		fileCase("file-symlink-to-dot-file", []string{"/gitlink/config", "/gitconfig", "/gitlink/"}, refusedFile([]int{403, 404}, dotgit)),
		fileCase("file-dot-git", []string{"/.git/config", "/dir/../.git/config", "/%2egit/config", "/.git/"}, refusedFile([]int{400, 403, 404}, dotgit)),
		fileCase("file-nul", []string{"/a%00b", "/dir/%00", "/index.html%00.txt"}, refusedFile([]int{400, 404})),
		fileCase("file-overlong-name", []string{"/" + strings.Repeat("a", 300), "/dir/" + strings.Repeat("b", 4000), strings.Repeat("/a", 3000)},
			refusedFile([]int{400, 404, 414})),
		hostileCase{name: "file-many-ranges", run: func(t *testing.T, e *hostileEnv, _ string) {
			var one, overlap []string
			for i := range 2000 {
				one = append(one, fmt.Sprintf("%d-%d", 2*i, 2*i))
			}
			for i := range 100 {
				overlap = append(overlap, fmt.Sprintf("%d-%d", i, i+100))
			}
			for what, ranges := range map[string][]string{"2000 one-byte ranges": one, "100 overlapping ranges": overlap} {
				o := e.send(t, head("GET", "/big.bin", "Range: bytes="+strings.Join(ranges, ",")), h1Opts{maxResps: 1})
				if !(o.status == http.StatusOK && len(o.body) == 8192) && o.status != http.StatusRequestedRangeNotSatisfiable {
					t.Errorf("%s of an 8 KiB file: got %v; want the whole file (200, 8192 bytes) or 416", what, o)
				}
			}
			// One range is still served as one.
			o := e.send(t, head("GET", "/big.bin", "Range: bytes=0-99"), h1Opts{maxResps: 1})
			if o.status != http.StatusPartialContent || len(o.body) != 100 {
				t.Errorf("Range: bytes=0-99: got %v; want 206 with 100 bytes", o)
			}
		}},
	}
}

var logStatusRE = regexp.MustCompile(`HTTP/[0-9.]+" (\d{3}) `)

// logStatus is the status of a combined-format line, 0 if none.
func logStatus(line string) int {
	m := logStatusRE.FindStringSubmatch(line)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func logCases() []hostileCase {
	// oneLine sends raw and wants exactly one access-log line naming marker,
	// and no line naming forged apart from it.
	oneLine := func(name, marker, forged string, send func(t *testing.T, e *hostileEnv, path string) outcome, want ...int) hostileCase {
		return hostileCase{name: name, run: func(t *testing.T, e *hostileEnv, path string) {
			m := e.mark()
			wantStatus(t, name, send(t, e, path), want...)
			lines := e.waitLogLines(t, m, marker, "exactly one line", func(ls []string) bool { return len(ls) >= 1 })
			var all []string
			for _, l := range e.logLines(m) {
				if strings.Contains(l, forged) || strings.Contains(l, marker) {
					all = append(all, l)
				}
			}
			if len(lines) != 1 || len(all) != 1 {
				t.Errorf("access-log lines for one request: %q; want exactly one", all)
			}
		}}
	}
	forgedLine := url.PathEscape("\n127.0.0.1 - - [01/Jan/2000:00:00:00 +0000] \"GET /forged HTTP/1.1\" 200 -")
	h1 := func(raw func(path string) string) func(t *testing.T, e *hostileEnv, path string) outcome {
		return func(t *testing.T, e *hostileEnv, path string) outcome {
			return e.send(t, raw(path), h1Opts{maxResps: 1})
		}
	}
	return []hostileCase{
		oneLine("log-newline-in-path", "log-newline-in-path", "/forged", h1(func(p string) string { return head("GET", p+forgedLine) }), 200),
		oneLine("log-cr-in-path", "log-cr-in-path", "/forged", h1(func(p string) string { return head("GET", p+strings.ReplaceAll(forgedLine, "%0A", "%0D")) }), 200),
		oneLine("log-newline-file-server", "nofile", "/forged", h1(func(string) string { return head("GET", "/nofile"+forgedLine) }), 404),
		oneLine("log-quotes-user-agent", "log-quotes-user-agent", "forged-ua", h1(func(p string) string {
			return head("GET", p, `User-Agent: x" 200 0 "-" "forged-ua`, `Referer: http://r/"forged-ref\`)
		}), 200),
		oneLine("log-h2-newline-in-path", "log-h2-newline-in-path", "/forged", func(t *testing.T, e *hostileEnv, path string) outcome {
			o, err := e.h2Once(func(h *h2Conn) error { return h.request(1, h.fields("GET", path+forgedLine), nil) })
			if err != nil {
				t.Fatal(err)
			}
			return o
		}, 200),
		hostileCase{name: "log-empty-user-agent", run: func(t *testing.T, e *hostileEnv, path string) {
			m := e.mark()
			wantStatus(t, "a request without User-Agent or Referer", e.send(t, head("GET", path), h1Opts{maxResps: 1}), 200)
			lines := e.waitLogLines(t, m, path, "one line", func(ls []string) bool { return len(ls) == 1 })
			if len(lines) == 1 && !strings.HasSuffix(lines[0], `"-" "-"`) {
				t.Errorf("combined line for a request without Referer and User-Agent: %q; want them written \"-\" (as Apache does)", lines[0])
			}
		}},
	}
}

// caseSlowloris: connections that send a header line every 500 ms are
// closed (or answered 408) once header_timeout (3s) has passed.
func caseSlowloris(t *testing.T, e *hostileEnv, path string, useTLS bool) {
	const n = 20
	outs := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		c, err := e.dialH1(h1Opts{tls: useTLS})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Go(func() {
			deadline := time.Now().Add(40 * time.Second)
			_ = c.SetReadDeadline(deadline)
			go func() {
				if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n")); err != nil {
					return
				}
				for j := 0; time.Now().Before(deadline); j++ {
					time.Sleep(500 * time.Millisecond) // the attack's pace
					if _, err := fmt.Fprintf(c, "X-%d: y\r\n", j); err != nil {
						return
					}
				}
			}()
			outs[i] = readH1(c, 1)
		})
	}
	wg.Wait()
	for i, o := range outs {
		if !(o.status == http.StatusRequestTimeout || o.status == 0 && o.closed) {
			t.Errorf("slowloris connection %d: %v; want it closed (or 408) after header_timeout", i, o)
			break
		}
	}
}

// caseManyIdle: 2,000 connections that never send a byte (1,500 on the
// http listener, 500 on the https one, no TLS handshake). The well-behaved
// client keeps being served meanwhile (runCase checks it), and Tether closes
// them all after header_timeout.
func caseManyIdle(t *testing.T, e *hostileEnv, _ string) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 2000 {
		addr := e.h1
		if i%4 == 3 {
			addr = e.h2
		}
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Some ordinary requests while all of them are open.
	for i := range 10 {
		if code, member, err := e.good.get(i); err != nil || code != http.StatusOK {
			t.Errorf("request %d with 2,000 idle connections open: %d from %q, %v", i, code, member, err)
		}
	}
	var open atomic.Int32
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.Read(make([]byte, 1)); isTimeout(err) {
				open.Add(1)
			}
		})
	}
	wg.Wait()
	if n := open.Load(); n > 0 {
		t.Errorf("%d of 2,000 connections that sent nothing still open after 60s; want them closed after header_timeout", n)
	}
}

const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

func wsHead(target, version string) string {
	return head("GET", target, "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: "+wsKey, "Sec-WebSocket-Version: "+version)
}

// wsJunk is what a client sends into an upgraded connection: bytes that
// are not WebSocket frames, with a request in them that must stay tunnel
// data.
func wsJunk() []byte {
	var b bytes.Buffer
	b.WriteString(smuggled)
	for b.Len() < 64<<10 {
		b.WriteString("\x00\xff junk \r\n\r\n")
	}
	return b.Bytes()
}

func wsCases() []hostileCase {
	return []hostileCase{
		// Upgrade without Connection: upgrade is an ordinary request; the
		// Upgrade header does not reach the member (which then says 426).
		rawCase("ws-upgrade-without-connection", head("GET", "/m/ws?case=ws-upgrade-without-connection", "Upgrade: websocket",
			"Sec-WebSocket-Key: "+wsKey, "Sec-WebSocket-Version: 13"), false, 400, 426),
		{name: "ws-bad-version", upgrade: true, run: func(t *testing.T, e *hostileEnv, path string) {
			out := e.send(t, wsHead("/m/ws?case=ws-bad-version", "8")+head("GET", path+"?after"), h1Opts{maxResps: 2})
			if out.status != http.StatusUpgradeRequired || len(out.more) != 1 || out.more[0] != http.StatusOK {
				t.Errorf("a version 8 handshake, then an ordinary request: got %v; want the member's 426, then 200", out)
			}
		}},
		{name: "ws-upgrade-then-junk", upgrade: true, run: func(t *testing.T, e *hostileEnv, _ string) {
			c, err := e.dialH1(h1Opts{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write([]byte(wsHead("/m/ws?case=ws-upgrade-then-junk", "13"))); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("a version 13 handshake: %v, %v; want 101", resp, err)
			}
			junk := wsJunk()
			go func() { _, _ = c.Write(junk) }()
			got := make([]byte, len(junk))
			if n, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, junk) {
				t.Errorf("the tunnel echoed %d of %d bytes (%v); want every byte back", n, len(junk), err)
			}
		}},
		{name: "ws-junk-before-101", upgrade: true, run: func(t *testing.T, e *hostileEnv, _ string) {
			// The junk follows the handshake in the same write: it is tunnel
			// data once the member agrees, never a request of its own.
			c, err := e.dialH1(h1Opts{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write(append([]byte(wsHead("/m/ws?case=ws-junk-before-101", "13")), wsJunk()...)); err != nil {
				t.Fatal(err)
			}
			o := readH1(c, 1)
			if o.status != http.StatusSwitchingProtocols && !o.is4xx() {
				t.Errorf("a handshake with bytes after it: got %v; want 101 (or a 4xx)", o)
			}
		}},
	}
}

// wantRefusedH2: a malformed HTTP/2 request is refused: 400, its stream
// reset, or the connection ended with GOAWAY.
func wantRefusedH2(t *testing.T, what string, o outcome) {
	t.Helper()
	if o.status != http.StatusBadRequest && !(o.status == 0 && (o.rst || o.goaway)) {
		t.Errorf("%s: got %v; want 400, RST_STREAM or GOAWAY", what, o)
	}
}

// h2Case sends one request built by fields (and body, if not nil) on a new
// HTTP/2 connection and checks the outcome.
func h2Case(name string, build func(h *h2Conn, path string) ([]hpack.HeaderField, []byte), check func(t *testing.T, o outcome)) hostileCase {
	return hostileCase{name: name, run: func(t *testing.T, e *hostileEnv, path string) {
		o, err := e.h2Once(func(h *h2Conn) error {
			f, body := build(h, path)
			return h.request(1, f, body)
		})
		if err != nil {
			t.Fatal(err)
		}
		check(t, o)
	}}
}

func h2Cases() []hostileCase {
	refused := func(name string) func(t *testing.T, o outcome) {
		return func(t *testing.T, o outcome) { wantRefusedH2(t, name, o) }
	}
	status := func(name string, want ...int) func(t *testing.T, o outcome) {
		return func(t *testing.T, o outcome) { wantStatus(t, name, o, want...) }
	}
	get := func(kv ...string) func(h *h2Conn, path string) ([]hpack.HeaderField, []byte) {
		return func(h *h2Conn, path string) ([]hpack.HeaderField, []byte) { return h.fields("GET", path, kv...), nil }
	}
	return []hostileCase{
		h2Case("h2-transfer-encoding", get("transfer-encoding", "chunked"), refused("h2-transfer-encoding")),
		h2Case("h2-connection-header", get("connection", "keep-alive"), refused("h2-connection-header")),
		h2Case("h2-crlf-in-value", get("x-forged", "a\r\nx-smuggled: 1"), refused("h2-crlf-in-value")),
		h2Case("h2-crlf-in-path", func(h *h2Conn, path string) ([]hpack.HeaderField, []byte) {
			return h.fields("GET", path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /m/smuggled"), nil
		}, refused("h2-crlf-in-path")),
		h2Case("h2-uppercase-name", get("X-Upper", "1"), refused("h2-uppercase-name")),
		h2Case("h2-missing-path", func(h *h2Conn, path string) ([]hpack.HeaderField, []byte) {
			return h.fields("GET", path)[:3], nil
		}, refused("h2-missing-path")),
		h2Case("h2-trace", func(h *h2Conn, path string) ([]hpack.HeaderField, []byte) {
			return h.fields("TRACE", path), nil
		}, status("TRACE over HTTP/2", http.StatusMethodNotAllowed)),
		h2Case("h2-connect", func(h *h2Conn, path string) ([]hpack.HeaderField, []byte) {
			return []hpack.HeaderField{{Name: ":method", Value: "CONNECT"}, {Name: ":authority", Value: "127.0.0.1:9"}}, nil
		}, status("CONNECT over HTTP/2", http.StatusMethodNotAllowed)),
		h2Case("h2-client-ip-headers", get("x-real-ip", "6.6.6.6", "true-client-ip", "6.6.6.6", "x-client-ip", "6.6.6.6",
			"cf-connecting-ip", "6.6.6.6", "forwarded", "for=6.6.6.6", "x-forwarded-for", "6.6.6.6"), status("client-IP headers over HTTP/2", 200)),
		h2Case("h2-uri-over-limit", func(h *h2Conn, path string) ([]hpack.HeaderField, []byte) {
			return h.fields("GET", path+"?q="+strings.Repeat("u", 9000)), nil
		}, status("a 9,000-byte :path, max_uri_length 8KiB", http.StatusRequestURITooLong)),
		h2Case("h2-header-over-limit", get("x-big", strings.Repeat("b", 128<<10)), func(t *testing.T, o outcome) {
			if o.status != http.StatusRequestHeaderFieldsTooLarge && !(o.status == 0 && (o.rst || o.goaway)) {
				t.Errorf("128 KiB of headers over HTTP/2: got %v; want 431 (or the stream or connection refused)", o)
			}
		}),
		{name: "h2-body-over-limit", run: func(t *testing.T, e *hostileEnv, path string) {
			h, err := e.dialH2(0)
			if err != nil {
				t.Fatal(err)
			}
			defer h.close()
			if err := h.writeHeaders(1, false, h.block(h.fields("POST", path, "content-length", strconv.Itoa(2<<20)))); err != nil {
				t.Fatal(err)
			}
			// The whole body, as flow control allows: whether Tether refuses
			// the content-length up front or stops reading at the limit, a
			// 413 comes before the body ends.
			o, done := h.sendFlow(1, bytes.Repeat([]byte("b"), 2<<20), true, 30*time.Second)
			if !done {
				o = h.read(1, 15*time.Second)
			}
			wantStatus(t, "content-length 2 MiB over HTTP/2, max_body_size 1MiB", o, http.StatusRequestEntityTooLarge)
			e.wantNoBodyOver(t, path, 1<<20)
		}},
		{name: "h2-rapid-reset", run: caseRapidReset},
		{name: "h2-continuation-flood", run: caseContinuationFlood},
		{name: "h2-settings-flood", run: func(t *testing.T, e *hostileEnv, _ string) {
			caseControlFlood(t, e, "SETTINGS", func(fr *http2.Framer) error { return fr.WriteSettings() })
		}},
		{name: "h2-ping-flood", run: func(t *testing.T, e *hostileEnv, _ string) {
			caseControlFlood(t, e, "PING", func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{1}) })
		}},
		{name: "h2-hpack-bomb", run: caseHPACKBomb},
	}
}

// caseRapidReset: 5,000 streams opened and reset at once (CVE-2023-44487).
// Tether may end the connection; either way the members are untouched (a
// client's reset is not their failure) and the process comes back.
func caseRapidReset(t *testing.T, e *hostileEnv, path string) {
	h, err := e.dialH2(0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	type result struct{ closed, goaway bool }
	res := make(chan result, 1)
	go func() { c, g := h.drain(60 * time.Second); res <- result{c, g} }()
	sent := 0
	for i := range 5000 {
		id := uint32(2*i + 1)
		if h.writeHeaders(id, true, h.block(h.fields("GET", path+"?n="+strconv.Itoa(i)))) != nil || h.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break
		}
		sent++
	}
	h.close()
	r := <-res
	t.Logf("rapid reset: %d streams opened and reset; GOAWAY %v", sent, r.goaway)
}

// caseContinuationFlood: HEADERS without END_HEADERS, then CONTINUATION
// frames of fresh header bytes without end (CVE-2023-45288). Tether must
// end it (GOAWAY, a reset, or closing the connection) well before 64 MiB.
func caseContinuationFlood(t *testing.T, e *hostileEnv, path string) {
	h, err := e.dialH2(0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	type result struct{ closed, goaway bool }
	res := make(chan result, 1)
	go func() { c, g := h.drain(90 * time.Second); res <- result{c, g} }()
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.block(h.fields("GET", path)), EndStream: true}); err != nil {
		t.Fatal(err)
	}
	junk := h.block([]hpack.HeaderField{{Name: "x-junk", Value: strings.Repeat("j", 16000), Sensitive: true}})
	_ = h.c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	sent := 0
	for range 4096 {
		if err = h.fr.WriteContinuation(1, false, junk); err != nil {
			break
		}
		sent++
	}
	var r result
	select {
	case r = <-res:
	case <-time.After(15 * time.Second):
	}
	t.Logf("CONTINUATION flood: %d frames (%d KiB) written before %v; GOAWAY %v, closed %v", sent, sent*len(junk)>>10, err, r.goaway, r.closed)
	if err == nil && !r.closed && !r.goaway {
		t.Errorf("CONTINUATION flood: all %d frames (64 MiB of header) accepted and the connection kept; want it ended", sent)
	}
}

// caseControlFlood: a client that sends SETTINGS (or PING) frames without
// end and never reads the acknowledgements. Tether must not queue them
// without bound: it closes the connection, or its heap stays near the
// baseline while the flood goes on.
func caseControlFlood(t *testing.T, e *hostileEnv, what string, write func(*http2.Framer) error) {
	h, err := e.dialH2(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	_ = h.c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	sent := 0
	for range 300000 {
		if err = write(h.fr); err != nil {
			break
		}
		sent++
	}
	s := e.mustStats(t)
	t.Logf("%s flood: %d frames written before %v; tether while the flooder is connected: %v", what, sent, err, s)
	if !isClosed(err) && s.heap > 2*e.base.heap+slackHeap {
		t.Errorf("%s flood: the connection kept (%v) and the heap at %.1f MiB; want it closed or the heap near the baseline (%v)", what, err, s.heap/(1<<20), e.base)
	}
}

// caseHPACKBomb: one 4,000-byte header put in the dynamic table, then
// referenced 16,000 times (a byte each): 64 MB decoded from 20 KB sent.
func caseHPACKBomb(t *testing.T, e *hostileEnv, path string) {
	h, err := e.dialH2(0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	bomb := hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 4000)}
	fields := h.fields("GET", path)
	for range 16001 {
		fields = append(fields, bomb)
	}
	block := h.block(fields)
	if err := h.writeHeaders(1, true, block); err != nil {
		t.Fatal(err)
	}
	o := h.read(1, 30*time.Second)
	t.Logf("HPACK bomb: %d bytes of header block sent; got %v", len(block), o)
	if o.status != http.StatusRequestHeaderFieldsTooLarge && !(o.status == 0 && (o.rst || o.goaway || o.closed)) {
		t.Errorf("HPACK bomb: got %v; want 431, or the stream or connection refused", o)
	}
}
