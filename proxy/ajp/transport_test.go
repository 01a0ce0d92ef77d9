package ajp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

func newTransport(t *testing.T, cfg Config) *Transport {
	t.Helper()
	if cfg.ReplyTimeout == 0 {
		cfg.ReplyTimeout = 10 * time.Second // a hung test fails in seconds, not a minute
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()
	return string(b)
}

// okResponder answers every request with 200 and the given body, reuse=1.
func okResponder(body string) func(*fakeConn, *fwdRequest) error {
	return func(c *fakeConn, f *fwdRequest) error {
		if v, _ := f.header("content-length"); v != "" && v != "0" {
			if _, err := c.readBody(); err != nil { // the unsolicited first chunk
				return err
			}
		}
		return c.send(sendHeaders(200, "200", "#1", "text/plain", "#3", strconv.Itoa(len(body))), bodyChunk(body), endResponse(true))
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "zero", cfg: Config{}, ok: true},
		{name: "max packet", cfg: Config{PacketSize: 65536}, ok: true},
		{name: "small packet", cfg: Config{PacketSize: 4096}},
		{name: "huge packet", cfg: Config{PacketSize: 65537}},
		{name: "negative reply timeout", cfg: Config{ReplyTimeout: -1}},
		{name: "negative max conns", cfg: Config{MaxConns: -1}},
		{name: "addr without port", cfg: Config{Addr: "tomcat1"}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%+v) error = %v; want ok=%v", tc.cfg, err, tc.ok)
			}
			if err == nil && tr.Config().ReplyTimeout <= 0 {
				t.Errorf("ReplyTimeout = %v; want a finite default", tr.Config().ReplyTimeout)
			}
		})
	}
	tr, _ := New(Config{Addr: "tomcat1"})
	if got := tr.Config().Addr; got != "tomcat1:8009" {
		t.Errorf("Config().Addr = %q; want tomcat1:8009", got)
	}
}

func TestEncodeForwardRequest(t *testing.T) {
	tlsInfo := ClientInfo{Addr: "203.0.113.7", Port: 51234, TLS: true, TLSProtocol: "TLSv1.3",
		CipherSuite: "TLS_AES_128_GCM_SHA256", KeySize: 128, SessionID: "abcd", CertPEM: "-----BEGIN CERTIFICATE-----\n"}
	for _, tc := range []struct {
		name    string
		method  string
		url     string
		host    string
		body    io.Reader
		cl      int64
		header  http.Header
		ci      ClientInfo
		secret  string
		check   func(t *testing.T, f *fwdRequest)
		wantLen int64
	}{
		{
			name: "get with query and headers", method: "GET", url: "ajp://127.0.0.1:8009/app/a%20b/c.jsp?x=1&y=%2F",
			host: "shop.example.com", header: http.Header{"Cookie": {"JSESSIONID=abc.tomcat1"}, "X-Custom": {"a", "b"}},
			ci: ClientInfo{Addr: "10.0.0.9"}, secret: "s3cret", wantLen: 0,
			check: func(t *testing.T, f *fwdRequest) {
				if f.MethodByte != 2 || f.Method != "GET" {
					t.Errorf("method = %d %q; want 2 GET", f.MethodByte, f.Method)
				}
				if f.URI != "/app/a%20b/c.jsp" {
					t.Errorf("URI = %q; want the escaped path without query", f.URI)
				}
				if got := f.Attrs[attrQueryString]; got != "x=1&y=%2F" {
					t.Errorf("query attribute = %q", got)
				}
				if got := f.Attrs[attrSecret]; got != "s3cret" {
					t.Errorf("secret attribute = %q", got)
				}
				if v, _ := f.header("host"); v != "shop.example.com" {
					t.Errorf("host header = %q", v)
				}
				if v, n := f.header("content-length"); v != "0" || n != 1 {
					t.Errorf("content-length = %q ×%d; want \"0\" once for a body-less request", v, n)
				}
				if v, _ := f.header("cookie"); v != "JSESSIONID=abc.tomcat1" {
					t.Errorf("cookie = %q", v)
				}
				if _, n := f.header("X-Custom"); n != 2 {
					t.Errorf("X-Custom sent %d times; want 2", n)
				}
				if f.RemoteAddr != "10.0.0.9" || f.RemoteHost != "10.0.0.9" || f.SSL || f.ServerPort != 80 || f.ServerName != "shop.example.com" {
					t.Errorf("got remote %q/%q ssl=%v server %q:%d", f.RemoteAddr, f.RemoteHost, f.SSL, f.ServerName, f.ServerPort)
				}
				if f.Proto != "HTTP/1.1" {
					t.Errorf("proto = %q", f.Proto)
				}
			},
		},
		{
			name: "patch is a stored method", method: "PATCH", url: "ajp://h/x", body: strings.NewReader("{}"), cl: 2, wantLen: 2,
			check: func(t *testing.T, f *fwdRequest) {
				if f.MethodByte != methodStored || f.Method != "PATCH" {
					t.Errorf("method byte %#x, stored %q; want 0xff PATCH", f.MethodByte, f.Method)
				}
				if v, _ := f.header("content-length"); v != "2" {
					t.Errorf("content-length = %q; want 2", v)
				}
			},
		},
		{
			name: "webdav method by code", method: "MKACTIVITY", url: "ajp://h/x", wantLen: 0,
			check: func(t *testing.T, f *fwdRequest) {
				if f.MethodByte != 27 {
					t.Errorf("method byte = %d; want 27", f.MethodByte)
				}
				if _, ok := f.Attrs[attrStoredMethod]; ok {
					t.Error("stored method sent for a coded method")
				}
			},
		},
		{
			name: "unknown length body has no content-length", method: "POST", url: "ajp://h/x",
			body: io.MultiReader(strings.NewReader("abc")), cl: -1, wantLen: -1,
			header: http.Header{"Content-Length": {"99"}, "Transfer-Encoding": {"chunked"}},
			check: func(t *testing.T, f *fwdRequest) {
				if _, n := f.header("content-length"); n != 0 {
					t.Errorf("content-length sent %d times; want 0", n)
				}
				if _, n := f.header("Transfer-Encoding"); n != 0 {
					t.Error("Transfer-Encoding forwarded")
				}
			},
		},
		{
			name: "tls client", method: "GET", url: "ajp://h/x", host: "shop.example.com", ci: tlsInfo, wantLen: 0,
			check: func(t *testing.T, f *fwdRequest) {
				if !f.SSL || f.ServerPort != 443 {
					t.Errorf("ssl=%v port=%d; want true 443", f.SSL, f.ServerPort)
				}
				if f.Attrs[attrSSLCipher] != "TLS_AES_128_GCM_SHA256" || f.KeySize != 128 || f.Attrs[attrSSLSession] != "abcd" || f.Attrs[attrSSLCert] == "" {
					t.Errorf("ssl attributes %v key size %d", f.Attrs, f.KeySize)
				}
				if f.ReqAttrs["AJP_SSL_PROTOCOL"] != "TLSv1.3" || f.ReqAttrs["AJP_REMOTE_PORT"] != "51234" {
					t.Errorf("request attributes %v", f.ReqAttrs)
				}
			},
		},
		{
			name: "host port and forwarded server port", method: "GET", url: "ajp://h/x", host: "shop.example.com:8443",
			ci: ClientInfo{TLS: true, ServerPort: 9443}, wantLen: 0,
			check: func(t *testing.T, f *fwdRequest) {
				if f.ServerName != "shop.example.com" || f.ServerPort != 9443 {
					t.Errorf("server %q:%d; want shop.example.com:9443", f.ServerName, f.ServerPort)
				}
				if len(f.Attrs) != 0 {
					t.Errorf("attributes %v; want none for TLS without details", f.Attrs)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, tc.method, tc.url, tc.body)
			if tc.host != "" {
				r.Host = tc.host
			}
			if tc.cl != 0 {
				r.ContentLength = tc.cl
			}
			for k, v := range tc.header {
				r.Header[k] = v
			}
			pkt, n, err := encodeForwardRequest(nil, DefaultPacketSize, r, tc.ci, tc.secret)
			if err != nil {
				t.Fatalf("encodeForwardRequest = %v", err)
			}
			if n != tc.wantLen {
				t.Errorf("body length = %d; want %d", n, tc.wantLen)
			}
			if pkt[0] != 0x12 || pkt[1] != 0x34 || int(pkt[2])<<8|int(pkt[3]) != len(pkt)-4 {
				t.Fatalf("packet header % x for %d bytes", pkt[:4], len(pkt))
			}
			f, err := parseForward(pkt[4:])
			if err != nil {
				t.Fatalf("parseForward: %v", err)
			}
			tc.check(t, f)
		})
	}
}

func TestHeadersTooLarge(t *testing.T) {
	s := startFake(t, serveRequests(okResponder("hello")))
	tr := newTransport(t, Config{})
	r := newRequest(t, "GET", "ajp://"+s.addr()+"/", nil)
	r.Header.Set("X-A", strings.Repeat("a", 6000))
	r.Header.Set("X-B", strings.Repeat("b", 6000))
	_, err := tr.RoundTrip(r)
	if !errors.Is(err, ErrHeadersTooLarge) {
		t.Fatalf("RoundTrip(12 KB of headers) = %v; want ErrHeadersTooLarge", err)
	}
	if errors.Is(err, ErrNotSent) {
		t.Error("ErrHeadersTooLarge also matches ErrNotSent; a retry elsewhere cannot help")
	}
	if n := s.accepted.Load(); n != 0 {
		t.Errorf("%d connections made; want 0", n)
	}
	// The same headers fit 16 KiB packets.
	tr16 := newTransport(t, Config{PacketSize: 16384})
	if _, _, err := encodeForwardRequest(nil, tr16.cfg.PacketSize, r, ClientInfo{}, ""); err != nil {
		t.Errorf("encode with 16 KiB packets = %v", err)
	}
}

func TestRoundTripAndReuse(t *testing.T) {
	var got []*fwdRequest
	s := startFake(t, serveRequests(func(c *fakeConn, f *fwdRequest) error {
		got = append(got, f)
		return c.send(
			sendHeaders(200, "200", "#1", "text/plain", "#7", "JSESSIONID=abc.tomcat1; Path=/", "#7", "b=2", "X-Node", "tomcat1"),
			bodyChunk("hello "), bodyChunk(""), bodyChunk("world"), endResponse(true))
	}))
	tr := newTransport(t, Config{Secret: "sec"})
	for i := range 3 {
		r := newRequest(t, "GET", "ajp://"+s.addr()+"/lab/x.jsp", nil)
		r.RemoteAddr = "192.0.2.1:4444"
		resp, err := tr.RoundTrip(r)
		if err != nil {
			t.Fatalf("request %d: RoundTrip = %v", i, err)
		}
		if resp.StatusCode != 200 || resp.Status != "200 OK" {
			t.Errorf("status %q; want \"200 OK\" (canonical phrase for Tomcat's \"200\")", resp.Status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type = %q", ct)
		}
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 2 {
			t.Errorf("Set-Cookie = %q; want 2 values", sc)
		}
		if resp.Header.Get("X-Node") != "tomcat1" || resp.ContentLength != -1 {
			t.Errorf("X-Node %q ContentLength %d", resp.Header.Get("X-Node"), resp.ContentLength)
		}
		if b := readAll(t, resp); b != "hello world" {
			t.Errorf("body = %q", b)
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("%d connections for 3 sequential requests; want 1 (reuse=1)", n)
	}
	if got[0].RemoteAddr != "192.0.2.1" || got[0].ReqAttrs["AJP_REMOTE_PORT"] != "4444" || got[0].Attrs[attrSecret] != "sec" {
		t.Errorf("forwarded remote %q attrs %v %v", got[0].RemoteAddr, got[0].ReqAttrs, got[0].Attrs)
	}
}

func TestConnectionNotReused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reuse bool
		read  bool // read the body to the end before closing
	}{
		{name: "reuse=0", reuse: false, read: true},
		{name: "body closed early", reuse: true, read: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serve := serveRequests(func(c *fakeConn, f *fwdRequest) error {
				return c.send(sendHeaders(200, "OK"), bodyChunk("part one"), bodyChunk("part two"), endResponse(tc.reuse))
			})
			s := startFake(t, func(c *fakeConn) error {
				err := serve(c)
				if !tc.read && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
					// The client closed the body after 3 bytes, and so the
					// connection, with the rest of the answer unread: a
					// reset, seen by a write or the next read depending on
					// the scheduler.
					return nil
				}
				return err
			})
			tr := newTransport(t, Config{})
			for range 2 {
				resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://"+s.addr()+"/", nil))
				if err != nil {
					t.Fatal(err)
				}
				if tc.read {
					readAll(t, resp)
				} else {
					buf := make([]byte, 3)
					io.ReadFull(resp.Body, buf)
					resp.Body.Close()
				}
			}
			if n := s.accepted.Load(); n != 2 {
				t.Errorf("%d connections; want 2", n)
			}
			open, idle := tr.pool(s.addr()).stats()
			if open != 0 || idle != 0 {
				t.Errorf("pool open=%d idle=%d; want 0 0", open, idle)
			}
		})
	}
}

func TestBodyPull(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20000/16+1)[:20000]
	for _, tc := range []struct {
		name      string
		body      func() io.Reader
		length    int64
		wantFirst bool // an unsolicited first chunk follows the forward request
		afterHdrs bool // Tomcat pulls the body only after sending the headers
		extraAsk  bool // Tomcat asks again after the body is used up
	}{
		{name: "known length", body: func() io.Reader { return bytes.NewReader(payload) }, length: 20000, wantFirst: true, extraAsk: true},
		{name: "unknown length", body: func() io.Reader {
			return io.MultiReader(bytes.NewReader(payload[:7000]), bytes.NewReader(payload[7000:]))
		}, length: -1},
		{name: "unknown length pulled after headers", body: func() io.Reader { return io.MultiReader(bytes.NewReader(payload)) }, length: -1, afterHdrs: true},
		{name: "no body, Tomcat asks anyway", body: func() io.Reader { return nil }, length: 0, extraAsk: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []byte
			if tc.length != 0 {
				want = payload
			}
			s := startFake(t, serveRequests(func(c *fakeConn, f *fwdRequest) error {
				var first []byte
				if tc.wantFirst {
					b, err := c.readBody()
					if err != nil {
						return err
					}
					if len(b) != 8186 {
						return errors.New("first chunk is not a full 8186-byte chunk")
					}
					first = b
				}
				if tc.afterHdrs {
					if err := c.send(sendHeaders(200, "OK")); err != nil {
						return err
					}
				}
				var got []byte
				if tc.length > 0 {
					got = first
					for len(got) < int(tc.length) {
						if err := c.send(getBodyChunk(8186)); err != nil {
							return err
						}
						b, err := c.readBody()
						if err != nil {
							return err
						}
						got = append(got, b...)
					}
					if tc.extraAsk { // the body is used up: the answer must be the empty packet
						if err := c.send(getBodyChunk(8186)); err != nil {
							return err
						}
						if b, err := c.readBody(); err != nil || b != nil {
							return errors.New("no empty packet after the body was used up")
						}
					}
				} else {
					b, _, err := c.pullBody(first)
					if err != nil {
						return err
					}
					got = b
				}
				sum := sha256.Sum256(got)
				if !tc.afterHdrs {
					if err := c.send(sendHeaders(200, "OK")); err != nil {
						return err
					}
				}
				return c.send(bodyChunk(string(sum[:])), endResponse(true))
			}))
			tr := newTransport(t, Config{})
			r := newRequest(t, "POST", "ajp://"+s.addr()+"/echo", tc.body())
			r.ContentLength = tc.length
			resp, err := tr.RoundTrip(r)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(want)
			if got := readAll(t, resp); got != string(sum[:]) {
				t.Errorf("server saw a different body (sha256 %x; want %x)", got, sum)
			}
		})
	}
}

func TestRequestBodyShort(t *testing.T) {
	s := startFake(t, func(c *fakeConn) error {
		if _, err := c.readForward(); err != nil {
			return err
		}
		c.readBody()
		_, _, _ = c.pullBody(nil)
		return nil
	})
	tr := newTransport(t, Config{})
	r := newRequest(t, "POST", "ajp://"+s.addr()+"/", strings.NewReader("short"))
	r.ContentLength = 100
	if _, err := tr.RoundTrip(r); err == nil || !strings.Contains(err.Error(), "short of its Content-Length") {
		t.Fatalf("RoundTrip(body shorter than Content-Length) = %v; want an error saying so", err)
	}
}

func TestStreamsProgressively(t *testing.T) {
	release := make(chan struct{})
	s := startFake(t, serveRequests(func(c *fakeConn, f *fwdRequest) error {
		if err := c.send(sendHeaders(200, "OK"), bodyChunk("first"), bodyChunk("")); err != nil {
			return err
		}
		<-release
		return c.send(bodyChunk("second"), endResponse(true))
	}))
	tr := newTransport(t, Config{})
	resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://"+s.addr()+"/stream", nil))
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := resp.Body.Read(buf)
	if err != nil || string(buf[:n]) != "first" {
		close(release)
		t.Fatalf("first Read = %q, %v; want \"first\" before the server sends more", buf[:n], err)
	}
	close(release)
	if rest := readAll(t, resp); rest != "second" {
		t.Errorf("rest = %q", rest)
	}
}

func TestNoBodyResponses(t *testing.T) {
	s := startFake(t, serveRequests(func(c *fakeConn, f *fwdRequest) error {
		if f.Method == "HEAD" {
			return c.send(sendHeaders(200, "OK", "#3", "1234"), endResponse(true))
		}
		return c.send(sendHeaders(304, "Not Modified"), endResponse(true))
	}))
	tr := newTransport(t, Config{})
	for _, m := range []string{"HEAD", "GET"} {
		resp, err := tr.RoundTrip(newRequest(t, m, "ajp://"+s.addr()+"/", nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Body != http.NoBody {
			t.Errorf("%s: Body = %T; want http.NoBody", m, resp.Body)
		}
		if open, idle := tr.pool(s.addr()).stats(); open != 1 || idle != 1 {
			t.Errorf("%s: pool open=%d idle=%d; want the connection back at once", m, open, idle)
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("%d connections; want 1", n)
	}
}

func TestInterimResponseSkipped(t *testing.T) {
	s := startFake(t, serveRequests(func(c *fakeConn, f *fwdRequest) error {
		return c.send(sendHeaders(103, "Early Hints", "Link", "</a.css>"), sendHeaders(201, "Created"), endResponse(true))
	}))
	tr := newTransport(t, Config{})
	resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://"+s.addr()+"/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 {
		t.Errorf("status %d; want 201", resp.StatusCode)
	}
	readAll(t, resp)
}

func TestHostilePackets(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkts [][]byte
	}{
		{name: "bad magic", pkts: [][]byte{{'X', 'Y', 0, 1, 4}}},
		{name: "length beyond packet size", pkts: [][]byte{{'A', 'B', 0xFF, 0xFF, 4}}},
		{name: "empty packet", pkts: [][]byte{{'A', 'B', 0, 0}}},
		{name: "unknown type", pkts: [][]byte{containerPacket([]byte{42})}},
		{name: "cpong instead of headers", pkts: [][]byte{cpong}},
		{name: "body before headers", pkts: [][]byte{bodyChunk("x")}},
		{name: "truncated status", pkts: [][]byte{containerPacket([]byte{typeSendHeaders, 0})}},
		{name: "string beyond packet", pkts: [][]byte{containerPacket([]byte{typeSendHeaders, 0, 200, 0, 50, 'O', 'K'})}},
		{name: "more headers than present", pkts: [][]byte{containerPacket([]byte{typeSendHeaders, 0, 200, 0, 2, 'O', 'K', 0, 0, 9})}},
		{name: "unknown header code", pkts: [][]byte{sendHeaders(200, "OK", "#7F", "x")}},
		{name: "status out of range", pkts: [][]byte{sendHeaders(42, "OK")}},
		{name: "header injection", pkts: [][]byte{sendHeaders(200, "OK", "X-A", "a\r\nSet-Cookie: evil=1")}},
		{name: "bad header name", pkts: [][]byte{sendHeaders(200, "OK", "X A:", "a")}},
		{name: "bad content-length", pkts: [][]byte{sendHeaders(200, "OK", "#3", "-5")}},
		{name: "body chunk longer than packet", pkts: [][]byte{sendHeaders(200, "OK"), containerPacket([]byte{typeSendBodyChunk, 0x10, 0, 'x'})}},
		{name: "second headers", pkts: [][]byte{sendHeaders(200, "OK"), sendHeaders(200, "OK")}},
		{name: "truncated payload then EOF", pkts: [][]byte{{'A', 'B', 0, 10, typeSendHeaders}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, func(c *fakeConn) error {
				if _, err := c.readForward(); err != nil {
					return err
				}
				return c.send(tc.pkts...)
			})
			tr := newTransport(t, Config{ReplyTimeout: 5 * time.Second})
			resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://"+s.addr()+"/", nil))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrReplyTimeout) {
				t.Fatalf("error = %v; want a prompt failure, not a timeout", err)
			}
			if open, _ := tr.pool(s.addr()).stats(); open != 0 {
				t.Errorf("%d connections still open after a protocol error", open)
			}
		})
	}
}

func TestReplyTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &pipeDialer{serve: func(c *fakeConn) {
			c.readForward()
			io.Copy(io.Discard, c) // silent, like Tomcat with an oversized response header
		}}
		tr, err := New(Config{ReplyTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		tr.dial = d.dial
		start := time.Now()
		_, err = tr.RoundTrip(newRequest(t, "GET", "ajp://tomcat:8009/bigheader.jsp", nil))
		if !errors.Is(err, ErrReplyTimeout) {
			t.Fatalf("RoundTrip = %v; want ErrReplyTimeout", err)
		}
		if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
			t.Errorf("error %v is not a net.Error timeout", err)
		}
		if el := time.Since(start); el != 3*time.Second {
			t.Errorf("failed after %v; want exactly the reply timeout (virtual time)", el)
		}
		d.wg.Wait()
	})
}

func TestReplyTimeoutInBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &pipeDialer{serve: func(c *fakeConn) {
			c.readForward()
			c.send(sendHeaders(200, "OK"), bodyChunk("partial"))
			io.Copy(io.Discard, c)
		}}
		tr, _ := New(Config{ReplyTimeout: 2 * time.Second})
		tr.dial = d.dial
		resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://tomcat/", nil))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if string(b) != "partial" || !errors.Is(err, ErrReplyTimeout) {
			t.Fatalf("ReadAll = %q, %v; want \"partial\", ErrReplyTimeout", b, err)
		}
		resp.Body.Close()
		d.wg.Wait()
	})
}

func TestContextCancelInterruptsRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &pipeDialer{serve: func(c *fakeConn) {
			c.readForward()
			c.send(sendHeaders(200, "OK"))
			io.Copy(io.Discard, c)
		}}
		tr, _ := New(Config{ReplyTimeout: time.Hour})
		tr.dial = d.dial
		ctx, cancel := context.WithCancel(t.Context())
		r, _ := http.NewRequestWithContext(ctx, "GET", "ajp://tomcat/", nil)
		resp, err := tr.RoundTrip(r)
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		_, err = io.ReadAll(resp.Body)
		if !errors.Is(err, context.Canceled) || time.Since(start) != time.Second {
			t.Errorf("ReadAll = %v after %v; want context.Canceled after 1s", err, time.Since(start))
		}
		resp.Body.Close()
		d.wg.Wait()
	})
}

func TestNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	tr := newTransport(t, Config{})
	_, err = tr.RoundTrip(newRequest(t, "POST", "ajp://"+addr+"/", strings.NewReader("x")))
	if !errors.Is(err, ErrNotSent) {
		t.Errorf("RoundTrip to a closed port = %v; want ErrNotSent", err)
	}
	if err := tr.Ping(t.Context(), addr); !errors.Is(err, ErrNotSent) {
		t.Errorf("Ping to a closed port = %v; want ErrNotSent", err)
	}
	if _, err := tr.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil)); err == nil {
		t.Error("RoundTrip accepted an http:// URL")
	}
}

func TestStaleIdleConnection(t *testing.T) {
	// The backend closes each connection after its response although it said
	// reuse=1 (Tomcat's connectionTimeout striking while the connection is idle).
	s := startFake(t, func(c *fakeConn) error {
		if _, err := c.readForward(); err != nil {
			return err
		}
		return c.send(sendHeaders(200, "OK"), bodyChunk("x"), endResponse(true))
	})
	tr := newTransport(t, Config{})
	for _, m := range []string{"GET", "POST", "GET"} {
		resp, err := tr.RoundTrip(newRequest(t, m, "ajp://"+s.addr()+"/", strings.NewReader("body")))
		if err != nil {
			t.Fatalf("%s on a connection the backend closed while idle: %v", m, err)
		}
		readAll(t, resp)
		time.Sleep(20 * time.Millisecond) // let the FIN arrive
	}
	if n := s.accepted.Load(); n != 3 {
		t.Errorf("%d connections; want 3", n)
	}
}

func TestRetryAfterWriteFailure(t *testing.T) {
	// A dead pooled connection that the peek cannot see (a pipe): the write
	// fails and the request goes out again on a fresh connection.
	synctest.Test(t, func(t *testing.T) {
		d := &pipeDialer{}
		var served atomic.Int32
		d.serve = func(c *fakeConn) {
			if served.Add(1) == 1 {
				c.readForward()
				c.send(sendHeaders(200, "OK"), endResponse(true))
				return // closes its end: the idle connection is dead
			}
			serveRequests(okResponder("fresh"))(c)
		}
		tr, _ := New(Config{})
		tr.dial = d.dial
		resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://tomcat/", nil))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		synctest.Wait()
		resp, err = tr.RoundTrip(newRequest(t, "POST", "ajp://tomcat/", strings.NewReader("abc")))
		if err != nil {
			t.Fatalf("POST on a dead pooled connection: %v; want a transparent retry", err)
		}
		if b := readAll(t, resp); b != "fresh" {
			t.Errorf("body %q", b)
		}
		if n := d.dialed.Load(); n != 2 {
			t.Errorf("%d dials; want 2", n)
		}
		tr.CloseIdleConnections()
		d.wg.Wait()
	})
}

func TestMaxConnsWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		d := &pipeDialer{serve: func(c *fakeConn) {
			serveRequests(func(c *fakeConn, f *fwdRequest) error {
				if err := c.send(sendHeaders(200, "OK"), bodyChunk("a")); err != nil {
					return err
				}
				<-release
				return c.send(endResponse(true))
			})(c)
		}}
		tr, _ := New(Config{MaxConns: 1})
		tr.dial = d.dial
		resp1, err := tr.RoundTrip(newRequest(t, "GET", "ajp://tomcat/", nil))
		if err != nil {
			t.Fatal(err)
		}
		// A second request waits; when its context ends first, it was never sent.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		r2, _ := http.NewRequestWithContext(ctx, "GET", "ajp://tomcat/", nil)
		_, err = tr.RoundTrip(r2)
		cancel()
		if !errors.Is(err, ErrNotSent) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("RoundTrip while the pool is full = %v; want ErrNotSent and DeadlineExceeded", err)
		}
		// A third one waits and gets the connection once the first is done.
		done := make(chan string)
		go func() {
			resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://tomcat/", nil))
			if err != nil {
				done <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- string(b)
		}()
		synctest.Wait()
		close(release)
		readAll(t, resp1)
		if got := <-done; got != "a" {
			t.Errorf("waiting request got %q", got)
		}
		if n := d.dialed.Load(); n != 1 {
			t.Errorf("%d dials; want 1 (MaxConns 1)", n)
		}
		tr.CloseIdleConnections()
		d.wg.Wait()
	})
}

func TestIdleExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &pipeDialer{serve: func(c *fakeConn) { serveRequests(okResponder("x"))(c) }}
		tr, _ := New(Config{IdleTimeout: 30 * time.Second})
		tr.dial = d.dial
		resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://tomcat/", nil))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		p := tr.pool("tomcat:8009")
		if open, idle := p.stats(); open != 1 || idle != 1 {
			t.Fatalf("open=%d idle=%d; want 1 1", open, idle)
		}
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if open, _ := p.stats(); open != 1 {
			t.Fatal("closed before IdleTimeout")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if open, idle := p.stats(); open != 0 || idle != 0 {
			t.Errorf("after IdleTimeout open=%d idle=%d; want 0 0", open, idle)
		}
		d.wg.Wait()
	})
}

func TestCPingBeforeReuse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answer    bool
		wantDials int32
	}{
		{name: "cpong: reused", answer: true, wantDials: 1},
		{name: "silent: replaced", answer: false, wantDials: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var cpings atomic.Int32
				d := &pipeDialer{serve: func(c *fakeConn) {
					for {
						p, err := c.readPacket()
						if err != nil {
							return
						}
						if len(p) == 1 && p[0] == typeCPing {
							cpings.Add(1)
							if !tc.answer {
								io.Copy(io.Discard, c)
								return
							}
							c.send(cpong)
							continue
						}
						c.send(sendHeaders(200, "OK"), endResponse(true))
					}
				}}
				tr, _ := New(Config{CPingBeforeReuseAfter: 5 * time.Second, PingTimeout: time.Second})
				tr.dial = d.dial
				for i := range 3 {
					resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://tomcat/", nil))
					if err != nil {
						t.Fatal(err)
					}
					readAll(t, resp)
					if i == 0 {
						time.Sleep(10 * time.Second) // idle long enough to need a CPing
					}
				}
				if n := cpings.Load(); n != 1 {
					t.Errorf("%d CPINGs; want 1 (only after the long idle)", n)
				}
				if n := d.dialed.Load(); n != tc.wantDials {
					t.Errorf("%d dials; want %d", n, tc.wantDials)
				}
				tr.CloseIdleConnections()
				d.wg.Wait()
			})
		})
	}
}

func TestPing(t *testing.T) {
	ok := startFake(t, func(c *fakeConn) error {
		p, err := c.readPacket()
		if err != nil {
			return err
		}
		if len(p) != 1 || p[0] != typeCPing {
			return errors.New("not a CPING")
		}
		return c.send(cpong)
	})
	silent := startFake(t, func(c *fakeConn) error {
		_, err := io.Copy(io.Discard, c)
		return err
	})
	tr := newTransport(t, Config{PingTimeout: 300 * time.Millisecond})
	if err := tr.Ping(t.Context(), ok.addr()); err != nil {
		t.Errorf("Ping = %v", err)
	}
	if err := tr.Ping(t.Context(), "ajp://"+ok.addr()); err != nil {
		t.Errorf("Ping(ajp:// URL) = %v", err)
	}
	start := time.Now()
	err := tr.Ping(t.Context(), silent.addr())
	if !errors.Is(err, ErrReplyTimeout) {
		t.Errorf("Ping(silent) = %v; want ErrReplyTimeout", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Ping(silent) took %v", el)
	}
}

func TestClientInfoFromRequest(t *testing.T) {
	r := httpRequest("GET", "/", "198.51.100.4:6000")
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
	r.Header.Add("X-Forwarded-For", "192.0.2.77")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Port", "443")
	for _, tc := range []struct {
		name  string
		r     *http.Request
		trust bool
		want  ClientInfo
	}{
		{name: "untrusted ignores headers", r: r, want: ClientInfo{Addr: "198.51.100.4", Port: 6000}},
		{name: "trusted edge", r: r, trust: true, want: ClientInfo{Addr: "192.0.2.77", TLS: true, ServerPort: 443}},
		{name: "direct tls", r: func() *http.Request {
			r := httpRequest("GET", "/", "[2001:db8::1]:7000")
			r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_256_GCM_SHA384}
			return r
		}(), want: ClientInfo{Addr: "2001:db8::1", Port: 7000, TLS: true, TLSProtocol: "TLSv1.3", CipherSuite: "TLS_AES_256_GCM_SHA384", KeySize: 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClientInfoFromRequest(tc.r, tc.trust); got != tc.want {
				t.Errorf("ClientInfoFromRequest(%v) = %+v; want %+v", tc.trust, got, tc.want)
			}
		})
	}
	// A client certificate goes as ssl_cert only when the handshake
	// verified it: Tomcat's CLIENT-CERT authentication believes it.
	dir := t.TempDir()
	leaf := testpeers.NewCA(t, dir, "ca").Issue(t, dir, "alice", 5)
	for _, verified := range []bool{false, true} {
		r := httpRequest("GET", "/", "192.0.2.1:7000")
		r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, PeerCertificates: []*x509.Certificate{leaf.Cert}}
		if verified {
			r.TLS.VerifiedChains = [][]*x509.Certificate{{leaf.Cert}}
		}
		ci := ClientInfoFromRequest(r, false)
		want := ""
		if verified {
			want = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Cert.Raw}))
		}
		if ci.CertPEM != want {
			t.Errorf("ClientInfoFromRequest(verified %v).CertPEM = %q; want %q", verified, ci.CertPEM, want)
		}
	}
	ctx := WithClientInfo(context.Background(), ClientInfo{Addr: "x", TLS: true})
	if ci, ok := ClientInfoFrom(ctx); !ok || ci.Addr != "x" || !ci.TLS {
		t.Errorf("ClientInfoFrom = %+v, %v", ci, ok)
	}
}

func httpRequest(method, target, remote string) *http.Request {
	r, _ := http.NewRequest(method, "http://example.com"+target, nil)
	r.RemoteAddr = remote
	return r
}

func BenchmarkEncodeForwardRequest(b *testing.B) {
	r, _ := http.NewRequest("GET", "ajp://tomcat1:8009/app/cart?id=42", nil)
	r.Host = "shop.example.com"
	r.Header.Set("Cookie", "JSESSIONID=5F3A9C.tomcat1")
	r.Header.Set("User-Agent", "Mozilla/5.0")
	r.Header.Set("Accept", "text/html")
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	ci := ClientInfo{Addr: "203.0.113.7", Port: 5555, TLS: true}
	buf := make([]byte, 0, DefaultPacketSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := encodeForwardRequest(buf, DefaultPacketSize, r, ci, "secret"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				serveRequests(okResponder("hello"))(newFakeConn(nc))
			}()
		}
	}()
	tr, _ := New(Config{})
	defer tr.CloseIdleConnections()
	r, _ := http.NewRequest("GET", "ajp://"+ln.Addr().String()+"/", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := tr.RoundTrip(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
