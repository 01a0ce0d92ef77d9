package proxy

import (
	"bufio"
	"bytes"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// FuzzPathMatching feeds hostile request paths through the code that turns
// them into mount decisions: it never panics, strips every path parameter,
// and a path without ';' is left as it is.
func FuzzPathMatching(f *testing.F) {
	for _, s := range []string{"/app;jsessionid=A.t1/x.jsp", "/", ";", ";;/;", "/a;b", "/%3B;x=/y", ""} {
		f.Add(s, "/app/*")
	}
	f.Fuzz(func(t *testing.T, path, pattern string) {
		got := stripPathParams(path)
		if strings.Contains(got, ";") {
			t.Fatalf("stripPathParams(%q) = %q; still has a parameter", path, got)
		}
		if !strings.Contains(path, ";") && got != path {
			t.Fatalf("stripPathParams(%q) = %q; want it unchanged", path, got)
		}
		if len(got) > len(path) {
			t.Fatalf("stripPathParams(%q) grew to %q", path, got)
		}
		p := compilePattern(pattern)
		_ = p.match(got)
		if pattern == "*" && !p.match(got) {
			t.Fatalf("pattern * does not match %q", got)
		}
		_ = hostOnly(path)
	})
}

// framingVerdict runs the framing scanner over data delivered in pieces
// cut at cuts, and returns what it concluded.
func framingVerdict(data []byte, cuts []byte) (ambiguous, sawTE bool) {
	fc := newFramingConn(nil, 1<<20, zerolog.Nop())
	fc.armed.Store(false)
	rest := data
	for _, c := range cuts {
		if len(rest) == 0 {
			break
		}
		n := min(int(c)+1, len(rest))
		fc.scan(rest[:n])
		rest = rest[n:]
	}
	fc.scan(rest)
	return fc.ambiguous.Load(), fc.sawTE.Load()
}

// FuzzFramingScan feeds hostile bytes to the scanner that watches HTTP/1.x
// connections for ambiguous framing. It never panics; its verdict does not
// depend on how the bytes arrive (one read or many); and it agrees with
// net/textproto, the standard header reader: every header block textproto
// reads with both Transfer-Encoding and Content-Length is flagged, and a
// Transfer-Encoding header is always seen (no false negatives).
func FuzzFramingScan(f *testing.F) {
	for _, s := range []string{
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"POST / HTTP/1.1\nTRANSFER-ENCODING:chunked\ncontent-length: 1\n\n",
		"",
	} {
		f.Add([]byte(s), []byte{3, 0, 17})
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		amb, te := framingVerdict(data, cuts)
		if amb1, te1 := framingVerdict(data, nil); amb != amb1 || te != te1 {
			t.Fatalf("verdict depends on the reads: (%v, %v) in pieces, (%v, %v) at once", amb, te, amb1, te1)
		}
		// textproto's reading of the first block (after the request line).
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
		if _, err := r.ReadLine(); err != nil {
			return
		}
		h, err := r.ReadMIMEHeader()
		if err != nil {
			return
		}
		_, hasTE := h["Transfer-Encoding"]
		_, hasCL := h["Content-Length"]
		if hasTE && !te {
			t.Fatalf("textproto read Transfer-Encoding in %q; the scanner did not see it", data)
		}
		if hasTE && hasCL && !amb {
			t.Fatalf("textproto read Transfer-Encoding and Content-Length in one block of %q; not flagged", data)
		}
	})
}

// FuzzValidHost checks the authority check against net/url's parsing: an
// accepted host never fails url.Parse as a URL's authority, and never holds
// a byte a URL authority cannot.
func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"a<b>", "example.com:8080", "[::1]:443", "[::1", "a b", "", "x:99999", "ex%41mple"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if !validHost(h) || h == "" {
			return
		}
		if strings.ContainsAny(h, " \t\r\n<>\"{}|\\^`/?#@") {
			t.Fatalf("validHost(%q) = true; it holds a byte an authority cannot", h)
		}
		if _, err := url.Parse("http://" + h + "/"); err != nil && !strings.Contains(h, "%") {
			t.Fatalf("validHost(%q) = true, but url.Parse rejects it: %v", h, err)
		}
	})
}

// FuzzQueryValues: lb_policy query's key is what net/url makes of the
// query (the parameter's values joined with commas), and never panics.
func FuzzQueryValues(f *testing.F) {
	for _, s := range []string{"a=1&tenant=t1", "tenant=a&tenant=b", "tenant", "x=1", "t%65nant=%41+b", "tenant=%zz", "&&=", ""} {
		f.Add(s, "tenant")
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		got := queryValues(raw, name)
		want, err := url.ParseQuery(raw)
		if err != nil || name == "" {
			return // net/url refuses the whole query (a ';', a bad escape); Tether keeps what it can read
		}
		if w := strings.Join(want[name], ","); got != w {
			t.Fatalf("queryValues(%q, %q) = %q; want %q", raw, name, got, w)
		}
	})
}
