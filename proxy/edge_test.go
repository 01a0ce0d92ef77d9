package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// rawExchange sends raw bytes to addr and returns everything the proxy
// wrote back until it closed the connection or went quiet for quiet.
func rawExchange(t *testing.T, addr, req string, quiet time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return readUntilQuiet(c, quiet)
}

// readUntilQuiet reads until EOF, or until nothing came for quiet.
func readUntilQuiet(c net.Conn, quiet time.Duration) string {
	var out strings.Builder
	buf := make([]byte, 32<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

func statusLine(resp string) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	return line
}

// hostport of a site URL.
func hostportOf(site string) string { return strings.TrimPrefix(site, "http://") }

// checkMembersUntouched fails unless every member of the first balancer is
// healthy with no error counted.
func checkMembersUntouched(t *testing.T, s *Server, what string) {
	t.Helper()
	for _, m := range s.Status().Balancers[0].Members {
		if !m.Healthy || m.Errors != 0 || m.Responses.Transport != 0 {
			t.Errorf("%s: member %s healthy %v, errors %d, transport %d; want healthy and no errors counted",
				what, m.Name, m.Healthy, m.Errors, m.Responses.Transport)
		}
	}
}

func TestBodyLimits(t *testing.T) {
	var hits atomic.Int64
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
	})
	other := newBackend(t, "other", nil)
	src := strings.Replace(oneBalancer("app=http://"+app.hostport()+" other=http://"+other.hostport(), ""),
		"http://127.0.0.1:0 {", "http://127.0.0.1:0 {\n\tlimits {\n\t\tmax_body_size 1KB\n\t\tbody_timeout 300ms\n\t\tbody_min_rate 500\n\t}", 1)
	s, site := startProxy(t, src, nil)
	addr := hostportOf(site)

	// Announced too large: refused before any member is asked.
	resp := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", time.Second)
	if got := statusLine(resp); got != "HTTP/1.1 413 Request Entity Too Large" {
		t.Errorf("Content-Length over max_body_size: %q; want 413", got)
	}
	// Too large as it arrives (chunked): 413, the member not blamed.
	big := strings.Repeat("x", 1500)
	resp = rawExchange(t, addr, fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(big), big), 2*time.Second)
	if got := statusLine(resp); got != "HTTP/1.1 413 Request Entity Too Large" {
		t.Errorf("chunked body over max_body_size: %q; want 413", got)
	}
	checkMembersUntouched(t, s, "body over max_body_size")

	// A body that trickles (a byte every 100 ms, far below 500 B/s) is cut
	// once body_timeout has passed: 408, the member not blamed.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	done := make(chan string, 1)
	go func() { done <- readUntilQuiet(c, 10*time.Second) }()
	var got string
trickle:
	for range 100 {
		select {
		case got = <-done:
			break trickle
		case <-time.After(100 * time.Millisecond):
			if _, err := c.Write([]byte("x")); err != nil {
				got = <-done
				break trickle
			}
		}
	}
	if statusLine(got) != "HTTP/1.1 408 Request Timeout" {
		t.Errorf("trickling body: %q; want 408 Request Timeout", statusLine(got))
	}
	checkMembersUntouched(t, s, "trickling body")

	// Within the limits, bodies pass.
	resp = rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", 2*time.Second)
	if got := statusLine(resp); got != "HTTP/1.1 200 OK" {
		t.Errorf("small POST: %q; want 200", got)
	}
}

func TestWriteTimeoutReleasesMember(t *testing.T) {
	chunk := []byte(strings.Repeat("y", 64<<10))
	stream := newBackend(t, "stream", func(w http.ResponseWriter, r *http.Request) {
		for range 1000 { // 64 MB: far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	src := strings.Replace(oneBalancer("stream=http://"+stream.hostport(), ""),
		"http://127.0.0.1:0 {", "http://127.0.0.1:0 {\n\tlimits {\n\t\twrite_timeout 300ms\n\t}", 1)
	s, site := startProxy(t, src, nil)
	c, err := net.Dial("tcp", hostportOf(site))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	testpeers.WaitUntil(t, 5*time.Second, "the member's request released after write_timeout", func() bool {
		m := s.Status().Balancers[0].Members[0]
		return m.Requests == 1 && m.InFlight == 0
	})
	checkMembersUntouched(t, s, "client that never reads")
}

func TestAmbiguousFramingClosesConnection(t *testing.T) {
	var paths []string
	var count atomic.Int64
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		paths = append(paths, r.URL.Path)
		io.Copy(io.Discard, r.Body)
	})
	_, site := startProxy(t, oneBalancer("app=http://"+app.hostport(), ""), nil)
	addr := hostportOf(site)
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct{ name, req string }{
		{"content-length and transfer-encoding", "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"transfer-encoding first", "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled},
		{"transfer-encoding on HTTP/1.0", "POST /first HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			count.Store(0)
			paths = nil
			resp := rawExchange(t, addr, tc.req, 2*time.Second)
			if n := strings.Count(resp, "HTTP/1."); n != 1 {
				t.Errorf("got %d responses; want 1, then the connection closed:\n%s", n, resp)
			}
			if !strings.Contains(strings.ToLower(resp), "connection: close") {
				t.Errorf("the answer does not say Connection: close:\n%s", resp)
			}
			if count.Load() != 1 || paths[0] != "/first" {
				t.Errorf("the member saw %v; want only /first", paths)
			}
		})
	}
	// A request with only Transfer-Encoding keeps its connection.
	resp := rawExchange(t, addr, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2*time.Second)
	if n := strings.Count(resp, "HTTP/1.1 200"); n != 2 {
		t.Errorf("plain chunked request then another: %d answers; want 2 (keep-alive)", n)
	}
}

func TestRequestForm(t *testing.T) {
	var hits atomic.Int64
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	_, site := startProxy(t, oneBalancer("app=http://"+app.hostport(), ""), nil)
	addr := hostportOf(site)
	for _, tc := range []struct{ name, req, want string }{
		{"absolute-form target with a bad host", "GET http://a<b>/ HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
		{"HTTP/2 preface on HTTP/1.1", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"URI over max_uri_length", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 414 URI Too Long"},
		{"URI far over max_header_size", "GET /" + strings.Repeat("a", 100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 414 URI Too Long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			resp := rawExchange(t, addr, tc.req, 2*time.Second)
			if got := statusLine(resp); got != tc.want {
				t.Errorf("status line %q; want %q", got, tc.want)
			}
			if hits.Load() != before {
				t.Errorf("the member was asked")
			}
		})
	}

	// allow_methods lets a site pass TRACE on.
	src := strings.Replace(oneBalancer("app=http://"+app.hostport(), ""), "http://127.0.0.1:0 {", "http://127.0.0.1:0 {\n\tallow_methods TRACE", 1)
	_, site2 := startProxy(t, src, nil)
	resp := rawExchange(t, hostportOf(site2), "TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2*time.Second)
	if got := statusLine(resp); got != "HTTP/1.1 200 OK" {
		t.Errorf("TRACE with allow_methods TRACE: %q; want the member's 200", got)
	}
}
