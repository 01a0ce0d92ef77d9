package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawMember is a member that records the bytes of each request it reads
// and answers with the raw bytes answers[path] gives (then closes the
// connection when the answer says so).
type rawMember struct {
	ln      net.Listener
	answers map[string]string
	mu      sync.Mutex
	seen    []string // each request's bytes, in order
}

func newRawMember(t *testing.T, answers map[string]string) *rawMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &rawMember{ln: ln, answers: answers}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go m.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return m
}

// readRecorder keeps what a reader read.
type readRecorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

func (m *rawMember) serve(c net.Conn) {
	defer c.Close()
	rec := &readRecorder{r: c}
	br := bufio.NewReader(rec)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		n := rec.buf.Len() - br.Buffered()
		m.mu.Lock()
		m.seen = append(m.seen, string(rec.buf.Bytes()[:n]))
		m.mu.Unlock()
		rec.buf.Next(n)
		ans := m.answers[req.URL.Path]
		for _, part := range strings.Split(ans, "<pause>") {
			if _, err := io.WriteString(c, part); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if strings.Contains(ans, "Connection: close") || !strings.Contains(ans, "Content-Length") && !strings.Contains(ans, "chunked") && !strings.HasPrefix(ans, "HTTP/1.1 204") {
			return
		}
	}
}

func (m *rawMember) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) == 0 {
		return ""
	}
	return m.seen[len(m.seen)-1]
}

// rawAnswer sends a raw request on a new connection to addr and returns
// the raw answer, without its Date line.
func rawAnswer(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	rec := &readRecorder{r: c}
	br := bufio.NewReader(rec)
	method, _, _ := strings.Cut(req, " ")
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%q: reading the answer: %v", req, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 200 {
			break
		}
	}
	raw := rec.buf.String()[:rec.buf.Len()-br.Buffered()]
	var out []string
	for _, line := range strings.SplitAfter(raw, "\r\n") {
		if !strings.HasPrefix(line, "Date: ") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// TestForwardLikeReverseProxy: the forwarder (forward.go) and
// httputil.ReverseProxy, by turns on the same proxy, send the member the
// same bytes and the client the same bytes (but Date) for requests that
// exercise each of ReverseProxy's steps: hop-by-hop fields both ways,
// X-Forwarded-* from an untrusted client, TE: trailers, the query's
// cleaning, HEAD, header_up and header_down, 1xx answers, trailers
// announced and not, an event stream, 204, an answer ended by the
// member's close, and a member that fails. It fails when the forwarder is
// not used.
func TestForwardLikeReverseProxy(t *testing.T) {
	m := newRawMember(t, map[string]string{
		"/plain":    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello",
		"/hop":      "HTTP/1.1 200 OK\r\nConnection: X-Drop, keep-alive\r\nX-Drop: secret\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
		"/trailers": "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\nX-Late: 1\r\n\r\n",
		"/early":    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n<pause>HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/sse":      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 22\r\n\r\ndata: one\n\n<pause>data: two\n\n<pause>",
		"/empty":    "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
		"/close":    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nuntil the member closes",
		"/teapot":   "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\nCache-Control: no-store\r\n\r\n",
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	s, site := startProxy(t, oneBalancer("a=http://"+m.ln.Addr().String()+" dead=http://"+dead,
		"\t\tlb_policy first\n\t\theader_up X-Up a\n\t\theader_up +X-Up b\n\t\theader_up -X-Gone\n\t\theader_down X-Down d\n\t\theader_down -X-A"), nil)
	addr := strings.TrimPrefix(site, "http://")
	b := s.Balancer("app")
	const common = "Host: app.example\r\nCookie: JSESSIONID=0123456789ABCDEF.a; other=1\r\nAccept: */*\r\n"
	cases := []string{
		"GET /plain HTTP/1.1\r\n" + common + "X-Forwarded-For: 1.2.3.4\r\nX-Real-IP: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\nConnection: X-Secret\r\nX-Secret: 1\r\nProxy-Connection: keep-alive\r\nTe: trailers\r\nX-Gone: 1\r\nSsl_client_cert: forged\r\n\r\n",
		"GET /plain?a=1;b=2&c=%zz HTTP/1.1\r\n" + common + "User-Agent: curl/8.0\r\n\r\n",
		"HEAD /plain HTTP/1.1\r\n" + common + "\r\n",
		"GET /hop HTTP/1.1\r\n" + common + "\r\n",
		"GET /trailers HTTP/1.1\r\n" + common + "Te: trailers\r\n\r\n",
		"GET /early HTTP/1.1\r\n" + common + "\r\n",
		"GET /sse HTTP/1.1\r\n" + common + "Accept: text/event-stream\r\n\r\n",
		"DELETE /empty HTTP/1.1\r\n" + common + "\r\n",
		"GET /close HTTP/1.1\r\n" + common + "\r\n",
		"OPTIONS /teapot HTTP/1.0\r\n" + common + "Pragma: no-cache\r\n\r\n",
		"GET /plain HTTP/1.1\r\nHost: app.example\r\nCookie: JSESSIONID=0123456789ABCDEF.dead\r\n\r\n", // its member is dead: failover
	}
	defer SetForwarder(true)
	for _, req := range cases {
		line, _, _ := strings.Cut(req, "\r\n")
		var seen, answers [2]string
		for i, on := range []bool{true, false} {
			SetForwarder(on)
			before := b.forwarded.Load()
			answers[i] = rawAnswer(t, addr, req)
			seen[i] = m.last()
			if used := b.forwarded.Load() > before; used != on {
				t.Fatalf("%s: forwarder on %v, used %v", line, on, used)
			}
		}
		if seen[0] != seen[1] {
			t.Errorf("%s: the member saw\nforwarded:     %q\nreverse proxy: %q", line, seen[0], seen[1])
		}
		if answers[0] != answers[1] {
			t.Errorf("%s: the client got\nforwarded:     %q\nreverse proxy: %q", line, answers[0], answers[1])
		}
		t.Logf("%s: member saw %d bytes, client got %d bytes, alike", line, len(seen[0]), len(answers[0]))
	}
}
