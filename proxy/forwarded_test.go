package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// ajpMember is a minimal AJP13 container for tests: it answers every
// FORWARD_REQUEST 200 with no body, records the request headers it got,
// and counts its open connections.
type ajpMember struct {
	ln net.Listener

	mu      sync.Mutex
	headers http.Header // of the last request; names as sent (lower case for coded ones)
	remote  string      // the last request's remote_addr
	open    int         // connections open now
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

func newAJPMember(t *testing.T) *ajpMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &ajpMember{ln: ln, conns: map[net.Conn]bool{}}
	m.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			m.mu.Lock()
			m.open++
			m.conns[c] = true
			m.mu.Unlock()
			m.wg.Go(func() { m.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		m.mu.Lock()
		for c := range m.conns {
			c.Close() // the proxy's idle connections
		}
		m.mu.Unlock()
		m.wg.Wait()
	})
	return m
}

func (m *ajpMember) addr() string { return m.ln.Addr().String() }

func (m *ajpMember) openConns() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open
}

func (m *ajpMember) lastRemote() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remote
}

func (m *ajpMember) lastHeaders() http.Header {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.headers
}

// ajpCodedHeaders are the request header codes (0xA0xx) of AJP13.
var ajpCodedHeaders = []string{"", "accept", "accept-charset", "accept-encoding", "accept-language", "authorization",
	"connection", "content-type", "content-length", "cookie", "cookie2", "host", "pragma", "referer", "user-agent"}

func (m *ajpMember) serve(c net.Conn) {
	defer func() {
		c.Close()
		m.mu.Lock()
		m.open--
		delete(m.conns, c)
		m.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for {
		var h [4]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		p := make([]byte, binary.BigEndian.Uint16(h[2:]))
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		switch p[0] {
		case 10: // CPING
			c.Write([]byte{'A', 'B', 0, 1, 9})
			continue
		case 2: // FORWARD_REQUEST
		default:
			continue // a body packet: these tests send none
		}
		hdr, remote, err := ajpForwardHeaders(p)
		if err != nil {
			return
		}
		m.mu.Lock()
		m.headers, m.remote = hdr, remote
		m.mu.Unlock()
		// SEND_HEADERS 200 "OK", no headers; END_RESPONSE, reuse.
		sh := []byte{4, 0, 200, 0, 2, 'O', 'K', 0, 0, 0}
		out := append([]byte{'A', 'B', 0, byte(len(sh))}, sh...)
		out = append(out, 'A', 'B', 0, 2, 5, 1)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// ajpForwardHeaders decodes the headers and the remote_addr of a
// FORWARD_REQUEST payload.
func ajpForwardHeaders(p []byte) (http.Header, string, error) {
	off := 2 // type, method
	str := func() (string, error) {
		if off+2 > len(p) {
			return "", errors.New("short string")
		}
		n := int(binary.BigEndian.Uint16(p[off:]))
		off += 2
		if n == 0xFFFF {
			return "", nil
		}
		if off+n+1 > len(p) {
			return "", errors.New("short string")
		}
		s := string(p[off : off+n])
		off += n + 1
		return s, nil
	}
	var remote string
	for i := range 5 { // protocol, uri, remote addr, remote host, server name
		s, err := str()
		if err != nil {
			return nil, "", err
		}
		if i == 2 {
			remote = s
		}
	}
	off += 3 // server port, is_ssl
	if off+2 > len(p) {
		return nil, "", errors.New("short")
	}
	n := int(binary.BigEndian.Uint16(p[off:]))
	off += 2
	hdr := http.Header{}
	for range n {
		var name string
		if off+2 <= len(p) && p[off] == 0xA0 {
			code := int(p[off+1])
			off += 2
			if code >= len(ajpCodedHeaders) {
				return nil, "", fmt.Errorf("header code %d", code)
			}
			name = ajpCodedHeaders[code]
		} else {
			var err error
			if name, err = str(); err != nil {
				return nil, "", err
			}
		}
		v, err := str()
		if err != nil {
			return nil, "", err
		}
		hdr[name] = append(hdr[name], v)
	}
	return hdr, remote, nil
}

// spoofed are client-address and forwarding headers a client may forge,
// with the values it sends.
var spoofed = map[string]string{
	"X-Real-IP":                 "6.6.6.1",
	"True-Client-IP":            "6.6.6.2",
	"X-Client-IP":               "6.6.6.3",
	"CF-Connecting-IP":          "6.6.6.4",
	"Fastly-Client-IP":          "6.6.6.5",
	"X-Cluster-Client-IP":       "6.6.6.6",
	"X-Original-Forwarded-For":  "6.6.6.7",
	"Forwarded":                 "for=6.6.6.8;proto=https",
	"Client-IP":                 "6.6.6.9",
	"CF-Connecting-IPv6":        "2001:db8::666",
	"CloudFront-Viewer-Address": "6.6.6.10:4444",
	"X-Envoy-External-Address":  "6.6.6.11",
	"X-Forwarded-Port":          "443",
	"X-Forwarded-Prefix":        "/evil",
	"X_Real_IP":                 "6.6.6.12", // CGI maps it to HTTP_X_REAL_IP as well
}

// sendSpoofed sends a GET with every spoofed header, names as written.
func sendSpoofed(t *testing.T, site string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, site+"/", nil)
	for k, v := range spoofed {
		req.Header[k] = []string{v} // as written: X_Real_IP keeps its underscores
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET = %d; want 200", resp.StatusCode)
	}
}

// headerValue finds name in h whatever its case (AJP sends names as they
// are, HTTP members see them canonical).
func headerValue(h http.Header, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// Client-address headers reach no member, HTTP or AJP, from a peer outside
// trusted_proxies; from a trusted one they pass as sent.
func TestClientIPHeadersOnlyFromTrustedPeers(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	httpMember := newBackend(t, "h1", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
	})
	ajpM := newAJPMember(t)
	for _, mb := range []struct {
		name    string
		url     string
		headers func() http.Header
	}{
		{name: "http member", url: "http://" + httpMember.hostport(), headers: func() http.Header { mu.Lock(); defer mu.Unlock(); return got }},
		{name: "ajp member", url: "ajp://" + ajpM.addr(), headers: ajpM.lastHeaders},
	} {
		t.Run(mb.name, func(t *testing.T) {
			untrusted := oneBalancer("m1="+mb.url, "")
			_, site := startProxy(t, untrusted, nil)
			sendSpoofed(t, site)
			h := mb.headers()
			for name := range spoofed {
				if v, ok := headerValue(h, name); ok {
					t.Errorf("untrusted peer: the member got %s: %s; want it removed", name, v)
				}
			}
			if v, ok := headerValue(h, "X-Forwarded-For"); !ok || v != "127.0.0.1" {
				t.Errorf("untrusted peer: X-Forwarded-For = %q; want Tether's own 127.0.0.1", v)
			}

			trusted := strings.Replace(untrusted, "http://127.0.0.1:0 {", "http://127.0.0.1:0 {\n\ttrusted_proxies 127.0.0.0/8", 1)
			_, site = startProxy(t, trusted, nil)
			sendSpoofed(t, site)
			h = mb.headers()
			for name, want := range spoofed {
				if v, ok := headerValue(h, name); v != want {
					t.Errorf("trusted peer: the member got %s = %q (present %v); want %q passed", name, v, ok, want)
				}
			}
		})
	}
}

func TestDropClientHeaders(t *testing.T) {
	h := http.Header{
		"X-Real-Ip": {"1"}, "X_real_ip": {"2"}, "Forwarded": {"3"}, "Cf-Connecting-Ip": {"4"},
		"Accept": {"a"}, "X_custom": {"b"}, "X-Forwarded-Proto": {"http"},
	}
	dropClientHeaders(h)
	want := http.Header{"Accept": {"a"}, "X_custom": {"b"}, "X-Forwarded-Proto": {"http"}}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Errorf("dropClientHeaders left %v; want %v", h, want)
	}
}

func BenchmarkDropClientHeaders(b *testing.B) {
	base := http.Header{"Accept": {"*/*"}, "User-Agent": {"b"}, "Cookie": {"x"}, "Accept-Encoding": {"gzip"}, "X-Request-Id": {"1"}}
	h := http.Header{}
	for b.Loop() {
		clear(h)
		for k, v := range base {
			h[k] = v
		}
		dropClientHeaders(h)
	}
}
