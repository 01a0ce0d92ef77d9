package ajp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// scriptConn is a net.Conn that reads a fixed byte string (the backend's
// side of the conversation) and discards what is written. Reads end with
// io.EOF, so nothing can block.
type scriptConn struct {
	r *bytes.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

func concat(pkts ...[]byte) []byte { return bytes.Join(pkts, nil) }

// FuzzReadResponse feeds hostile backend bytes to the whole response path
// (headers, body chunks, GET_BODY_CHUNK answers, END_RESPONSE): it must
// return a response or an error, never panic, never read past its input.
func FuzzReadResponse(f *testing.F) {
	f.Add(concat(sendHeaders(200, "200", "#1", "text/plain", "#3", "5"), bodyChunk("hello"), endResponse(true)))
	f.Add(concat(getBodyChunk(8186), getBodyChunk(8186), sendHeaders(201, "Created", "X-A", "b"), bodyChunk(""), endResponse(false)))
	f.Add(concat(sendHeaders(103, "Early", "Link", "x"), sendHeaders(204, "")))
	f.Add(concat(sendHeaders(200, "OK"), getBodyChunk(3), bodyChunk("x"), getBodyChunk(0), endResponse(true)))
	f.Add(concat(sendHeaders(200, "OK", "#7", "a=b", "#7", "c=d", "#B", "Basic"), cpong))
	f.Add([]byte{'A', 'B', 0xFF, 0xFF, 4, 0})
	f.Add([]byte{'A', 'B', 0, 5, 4, 0, 200, 0xFF, 0xFF})
	f.Add([]byte{'A', 'B', 0, 3, 3, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, err := New(Config{MaxIdle: -1})
		if err != nil {
			t.Fatal(err)
		}
		tr.dial = func(context.Context, string) (net.Conn, error) {
			return &scriptConn{r: bytes.NewReader(in)}, nil
		}
		r, _ := http.NewRequest("POST", "ajp://fuzz/", io.MultiReader(strings.NewReader("request body")))
		r.ContentLength = -1
		resp, err := tr.RoundTrip(r)
		if err != nil {
			if resp != nil {
				t.Fatal("response and error")
			}
			return
		}
		if resp.StatusCode < 200 || resp.StatusCode > 999 {
			t.Fatalf("status %d accepted", resp.StatusCode)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		if n > int64(len(in)) {
			t.Fatalf("read %d body bytes from %d input bytes", n, len(in))
		}
		resp.Body.Close()
	})
}

// FuzzEncodeRequest checks that any request either encodes into a packet the
// independent decoder in fake_test.go reads back field for field, or fails
// with ErrHeadersTooLarge; never anything else, never a panic.
func FuzzEncodeRequest(f *testing.F) {
	// rep repeats hvalue (up to 20 000 bytes): big headers without big
	// inputs, which the fuzzer is slow to minimize.
	f.Add("GET", "/lab/session.jsp", "a=1", "Cookie", "JSESSIONID=x.tomcat1", uint16(1), "10.0.0.1", "s3cret", false)
	f.Add("PATCH", "/a b/ü", "", "X-Custom", "v", uint16(9000), "", "", true)
	f.Add("PATCH", "/", "", "X-Custom", "v", uint16(8100), "", "", true)
	f.Add("MKACTIVITY", "", "q", "host", "evil", uint16(1), "::1", "", false)
	f.Add("", "/", "", "Content-Length", "7", uint16(1), "", "x", true)
	f.Fuzz(func(t *testing.T, method, path, query, hname, hvalue string, rep uint16, addr, secret string, tls bool) {
		if len(hvalue)*int(rep) <= 20000 {
			hvalue = strings.Repeat(hvalue, int(rep))
		}
		r := &http.Request{
			Method: method,
			URL:    &url.URL{Scheme: "ajp", Host: "h:8009", Path: path, RawQuery: query},
			Header: http.Header{},
			Host:   "shop.example.com",
		}
		if hname != "" {
			r.Header[hname] = []string{hvalue}
		}
		pkt, _, err := encodeForwardRequest(nil, DefaultPacketSize, r, ClientInfo{Addr: addr, TLS: tls}, secret)
		if err != nil {
			if !errors.Is(err, ErrHeadersTooLarge) {
				t.Fatalf("encode error %v; want only ErrHeadersTooLarge", err)
			}
			return
		}
		if len(pkt) > DefaultPacketSize {
			t.Fatalf("packet of %d bytes", len(pkt))
		}
		fr, err := parseForward(pkt[4:])
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		wantMethod := method
		if wantMethod == "" {
			wantMethod = "GET"
		}
		if fr.Method != wantMethod {
			t.Errorf("method %q; want %q", fr.Method, wantMethod)
		}
		if want := requestURI(r); fr.URI != want {
			t.Errorf("URI %q; want %q", fr.URI, want)
		}
		if query != "" && fr.Attrs[attrQueryString] != query {
			t.Errorf("query %q; want %q", fr.Attrs[attrQueryString], query)
		}
		if secret != "" && fr.Attrs[attrSecret] != secret {
			t.Errorf("secret %q; want %q", fr.Attrs[attrSecret], secret)
		}
		if fr.RemoteAddr != addr || fr.SSL != tls {
			t.Errorf("remote %q ssl %v; want %q %v", fr.RemoteAddr, fr.SSL, addr, tls)
		}
		if hname != "" && !skippedRequestHeaders[http.CanonicalHeaderKey(hname)] {
			found := false
			for _, h := range fr.Headers {
				if strings.EqualFold(h[0], hname) && h[1] == hvalue {
					found = true
				}
			}
			if !found {
				t.Errorf("header %q: %q not forwarded; got %q", hname, hvalue, fr.Headers)
			}
		}
		if v, n := fr.header("host"); v != "shop.example.com" || n != 1 {
			t.Errorf("host %q ×%d", v, n)
		}
	})
}
