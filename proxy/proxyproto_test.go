package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
)

// PROXY v2 headers as an AWS NLB sends them: a client [2001:db8::7]:6666
// with the VPC endpoint TLV, and a LOCAL health check.
const (
	v2FromV6 = "\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x21\x21\x00\x3e\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\x0a\x00\x50\xea\x00\x17\x01\x76\x70\x63\x65\x2d\x30\x38\x64\x32\x62\x66\x31\x35\x66\x61\x63\x35\x30\x30\x31\x63\x39"
	v2Local  = "\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x20\x00\x00\x00"
)

// TestProxyProtocolListener runs a site behind proxy_protocol: v1 and v2
// give the member and the access log the client's address; a spoofed
// X-Forwarded-For is replaced; garbage, a missing header, and a header from
// a peer outside the allowed ranges close the connection.
func TestProxyProtocolListener(t *testing.T) {

	var mu sync.Mutex
	var lastXFF string
	echo := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastXFF = r.Header.Get("X-Forwarded-For")
		mu.Unlock()
	})
	accessLog := filepath.Join(t.TempDir(), "access.log")
	site := func(ranges string) string {
		return fmt.Sprintf("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\tproxy_protocol %s\n\taccess_log %s\n\treverse_proxy {\n\t\tto echo=http://%s\n\t}\n}\n", ranges, accessLog, echo.hostport())
	}
	opts := Options{Logger: zerolog.New(t.Output()), ProxyHeaderTimeout: 500 * time.Millisecond}
	_, allowed := startProxyOpts(t, site("127.0.0.0/8"), opts, nil)
	_, refused := startProxyOpts(t, site("10.0.0.0/8"), opts, nil)
	allowed, refused = strings.TrimPrefix(allowed, "http://"), strings.TrimPrefix(refused, "http://")

	// send writes header+request on a new connection and returns the
	// response status line ("" if the connection was closed).
	send := func(addr string, header []byte) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(header)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	xff := func() string { mu.Lock(); defer mu.Unlock(); return lastXFF }

	for _, tc := range []struct {
		name, addr string
		header     []byte
		wantStatus string
		wantXFF    string
	}{
		{name: "v1", addr: allowed, header: []byte("PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n"), wantStatus: "HTTP/1.1 200 OK", wantXFF: "203.0.113.9"},
		{name: "v2 with aws tlv", addr: allowed, header: []byte(v2FromV6), wantStatus: "HTTP/1.1 200 OK", wantXFF: "2001:db8::7"},
		{name: "v2 local keeps the peer", addr: allowed, header: []byte(v2Local), wantStatus: "HTTP/1.1 200 OK", wantXFF: "127.0.0.1"},
		{name: "garbage header", addr: allowed, header: []byte("PROXY TCP4 garbage\r\n")},
		{name: "binary garbage", addr: allowed, header: []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff")},
		{name: "missing header from an allowed peer", addr: allowed, header: nil},
		{name: "header from a peer outside the ranges", addr: refused, header: []byte("PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n")},
		{name: "direct client outside the ranges", addr: refused, header: nil, wantStatus: "HTTP/1.1 200 OK", wantXFF: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			lastXFF = ""
			mu.Unlock()
			if got := send(tc.addr, tc.header); got != tc.wantStatus {
				t.Fatalf("status line = %q; want %q", got, tc.wantStatus)
			}
			if got := xff(); got != tc.wantXFF {
				t.Errorf("X-Forwarded-For at the member = %q; want %q", got, tc.wantXFF)
			}
		})
	}
	// A header that never completes is cut at the deadline.
	c, err := net.Dial("tcp", allowed)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("PROXY TCP4 1.2.3.4"))
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("slow header: read %d, %v after %v; want the connection closed at the deadline", n, err, time.Since(start))
	}
	c.Close()

	logs, _ := os.ReadFile(accessLog)
	for _, want := range []string{`"client":"203.0.113.9"`, `"client":"2001:db8::7"`} {
		if !bytes.Contains(logs, []byte(want)) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
}

// TestAdminProxyProtocol: an NLB target group with proxy protocol v2 sends
// the header on its /healthz checks too, so `admin { proxy_protocol }`
// reads it; a check without it is refused.
func TestAdminProxyProtocol(t *testing.T) {
	src := "{\n\tadmin 127.0.0.1:0 {\n\t\tproxy_protocol 127.0.0.0/8\n\t}\n}\nhttp://127.0.0.1:0 {\n\trespond ok\n}\n"
	healthz := func(*Server, *config.Global) (http.Handler, error) { // proxy/admin's, in short
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
			}
		}), nil
	}
	s, _ := startProxyOpts(t, src, Options{Logger: zerolog.New(t.Output()), ProxyHeaderTimeout: 500 * time.Millisecond, Admin: healthz}, nil)
	admin := s.Addrs().Admin
	check := func(header string) string {
		c, err := net.Dial("tcp", admin)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "%sGET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", header, admin)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	if got := check(v2Local); got != "HTTP/1.1 200 OK" {
		t.Errorf("/healthz behind a PROXY v2 LOCAL header (an NLB health check) = %q; want 200", got)
	}
	if got := check(""); strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("/healthz without the PROXY header = %q; want the connection refused", got)
	}
}
