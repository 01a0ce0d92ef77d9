package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadResponseLikeNetHTTP: whenever parseCommon reads an answer
// itself, http.ReadResponse reads the same bytes to the same
// *http.Response (status, protocol, header fields, length, Close) and the
// same body. An answer parseCommon does not read it leaves unconsumed, for
// http.ReadResponse.
func FuzzReadResponseLikeNetHTTP(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Route: tomcat1\r\nSet-Cookie: JSESSIONID=0123.tomcat1; Path=/\r\nSet-Cookie: b=2\r\nDate: Mon, 07 Dec 2026 23:00:00 GMT\r\n\r\n" + strings.Repeat("x", 100),
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nokHTTP/1.0 200 OK\r\n",
		"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: Close\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 3\r\nPragma: no-cache\r\nx-odd_name~: v\xff\t \r\nEmpty:\r\n\r\nabcdef",
		"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nFoo: bar\r\n baz\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		req := &http.Request{Method: http.MethodGet}
		if head {
			req.Method = http.MethodHead
		}
		ours := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
		_, _ = ours.Peek(len(raw)) // the whole answer in the buffer, as from one read
		before := ours.Buffered()
		resp := parseCommon(ours, req)
		if resp == nil {
			if ours.Buffered() != before {
				t.Fatalf("parseCommon consumed bytes of an answer it did not read: %q", raw)
			}
			return
		}
		std, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
		if err != nil {
			t.Fatalf("parseCommon read an answer net/http refuses (%v):\n%q", err, raw)
		}
		sameAnswer(t, raw, resp, std)
	})
}

func sameAnswer(t *testing.T, raw []byte, ours, std *http.Response) {
	t.Helper()
	if ours.Status != std.Status || ours.StatusCode != std.StatusCode || ours.Proto != std.Proto ||
		ours.ProtoMajor != std.ProtoMajor || ours.ProtoMinor != std.ProtoMinor ||
		ours.ContentLength != std.ContentLength || ours.Close != std.Close || ours.Request != std.Request ||
		!reflect.DeepEqual(ours.TransferEncoding, std.TransferEncoding) || !reflect.DeepEqual(ours.Trailer, std.Trailer) {
		t.Fatalf("answer %q:\nours %+v\nstd  %+v", raw, ours, std)
	}
	if !reflect.DeepEqual(ours.Header, std.Header) {
		t.Fatalf("answer %q: header\nours %q\nstd  %q", raw, ours.Header, std.Header)
	}
	ob, oerr := io.ReadAll(ours.Body)
	sb, serr := io.ReadAll(std.Body)
	if !bytes.Equal(ob, sb) || (oerr == nil) != (serr == nil) {
		t.Fatalf("answer %q: body\nours %q, %v\nstd  %q, %v", raw, ob, oerr, sb, serr)
	}
}

// TestReadResponseCommon: the answers a member sends most are read in
// place, with a handful of allocations, and others are left to net/http;
// either way with the same result as net/http's.
func TestReadResponseCommon(t *testing.T) {
	common := "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 07 Dec 2026 23:00:00 GMT\r\nX-Route: tomcat1\r\n\r\n" + strings.Repeat("x", 100)
	for _, tc := range []struct {
		raw    string
		inline bool
	}{
		{common, true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
		{"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nFoo: a\r\n b\r\nContent-Length: 0\r\n\r\n", false},
	} {
		req := &http.Request{Method: http.MethodGet}
		br := bufio.NewReader(strings.NewReader(tc.raw))
		_, _ = br.Peek(len(tc.raw))
		if got := parseCommon(br, req) != nil; got != tc.inline {
			t.Errorf("%q: read in place %v; want %v", tc.raw, got, tc.inline)
		}
		ours, err := readResponse(bufio.NewReader(strings.NewReader(tc.raw)), req)
		if err != nil {
			t.Fatalf("%q: %v", tc.raw, err)
		}
		std, _ := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.raw)), req)
		sameAnswer(t, []byte(tc.raw), ours, std)
	}
	req := &http.Request{Method: http.MethodGet}
	data := []byte(common)
	r := bytes.NewReader(data)
	br := bufio.NewReader(r)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(data)
		br.Reset(r)
		_, _ = br.Peek(len(data))
		if parseCommon(br, req) == nil {
			t.Fatal("not read in place")
		}
	})
	// The head's text, the Response, the header map, the values, the
	// body: a handful, where net/http's ReadResponse makes about twice
	// as many (BenchmarkReadResponse).
	if allocs > 6 {
		t.Errorf("parseCommon: %.0f allocations for a 4-field head; want at most 6", allocs)
	}
}

func BenchmarkReadResponse(b *testing.B) {
	data := []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 07 Dec 2026 23:00:00 GMT\r\nSet-Cookie: JSESSIONID=0123456789ABCDEF.tomcat1; Path=/; HttpOnly\r\nX-Route: tomcat1\r\n\r\n" + strings.Repeat("x", 100))
	req := &http.Request{Method: http.MethodGet}
	for _, tc := range []struct {
		name string
		read func(*bufio.Reader, *http.Request) (*http.Response, error)
	}{{"h1", readResponse}, {"net-http", http.ReadResponse}} {
		b.Run(tc.name, func(b *testing.B) {
			r := bytes.NewReader(data)
			br := bufio.NewReader(r)
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(data)
				br.Reset(r)
				_, _ = br.Peek(len(data))
				resp, err := tc.read(br, req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
			}
		})
	}
}
