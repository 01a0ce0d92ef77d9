package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
)

func TestEncodeChoose(t *testing.T) {
	e := newEncoder(&config.Encode{Formats: []config.EncodeFormat{{Name: "zstd"}, {Name: "gzip"}}, MinimumLength: 512})
	for _, tc := range []struct {
		method, ae, rng, want string
	}{
		{ae: "gzip", want: "gzip"},
		{ae: "gzip, deflate, br, zstd", want: "zstd"}, // equal q: the config's order
		{ae: "gzip;q=1.0, zstd;q=0.5", want: "gzip"},
		{ae: "ZSTD", want: "zstd"},
		{ae: "br", want: ""},
		{ae: "gzip;q=0", want: ""},
		{ae: "gzip;q=bogus", want: ""},
		{ae: "*", want: "zstd"},
		{ae: "*;q=0", want: ""},
		{ae: "identity", want: ""},
		{ae: "", want: ""},
		{method: "HEAD", ae: "gzip", want: ""},
		{ae: "gzip", rng: "bytes=0-10", want: ""},
	} {
		r, _ := http.NewRequest(cmp(tc.method, "GET"), "http://x/", nil)
		if tc.ae != "" {
			r.Header.Set("Accept-Encoding", tc.ae)
		}
		if tc.rng != "" {
			r.Header.Set("Range", tc.rng)
		}
		got := ""
		if f := e.choose(r); f != nil {
			got = f.name
		}
		if got != tc.want {
			t.Errorf("%s Accept-Encoding %q (Range %q): %q; want %q", tc.method, tc.ae, tc.rng, got, tc.want)
		}
	}
}

// TestEncodeAnswers runs a site with encode gzip zstd in front of a member
// that answers each kind of body, and checks what the client gets.
func TestEncodeAnswers(t *testing.T) {
	text := []byte(strings.Repeat("Tether compresses text answers for the clients that accept it.\n", 3200)) // 200 KB
	member := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/text":
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("ETag", `"v1"`)
			h.Set("Accept-Ranges", "bytes")
			w.Write(text)
		case "/sized":
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", fmt.Sprint(len(text)))
			w.Write(text)
		case "/small":
			h.Set("Content-Type", "text/plain")
			w.Write([]byte("short"))
		case "/png":
			h.Set("Content-Type", "image/png")
			w.Write(text)
		case "/sniffed":
			w.Write(text) // no Content-Type: sniffed as text/plain
		case "/encoded":
			h.Set("Content-Type", "text/plain")
			h.Set("Content-Encoding", "gzip")
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(text)
			zw.Close()
			w.Write(b.Bytes())
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/unchanged":
			h.Set("Content-Type", "text/html")
			h.Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		}
	})
	_, site := startProxy(t, "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\tencode gzip zstd\n\treverse_proxy m=http://"+member.hostport()+"\n}\n", nil)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path, ae string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, site+path, nil)
		if ae != "" {
			req.Header.Set("Accept-Encoding", ae)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	for _, tc := range []struct {
		path, ae, wantEnc string
		wantVary          bool
	}{
		{path: "/text", ae: "gzip", wantEnc: "gzip", wantVary: true},
		{path: "/text", ae: "zstd", wantEnc: "zstd", wantVary: true},
		{path: "/text", ae: "gzip, zstd", wantEnc: "gzip", wantVary: true}, // equal q: the directive's order
		{path: "/text", ae: "", wantEnc: ""},
		{path: "/sized", ae: "gzip", wantEnc: "gzip", wantVary: true},
		{path: "/small", ae: "gzip", wantEnc: ""}, // too short: the same whatever is accepted, so no Vary (as Caddy)
		{path: "/png", ae: "gzip", wantEnc: ""},
		{path: "/sniffed", ae: "gzip", wantEnc: "gzip", wantVary: true},
		{path: "/encoded", ae: "zstd", wantEnc: "gzip"}, // the member's own encoding, untouched
		{path: "/empty", ae: "gzip", wantEnc: ""},
		{path: "/unchanged", ae: "gzip", wantEnc: "", wantVary: true}, // a 304 varies as its 200 would
	} {
		resp, body := get(tc.path, tc.ae)
		enc := resp.Header.Get("Content-Encoding")
		if enc != tc.wantEnc {
			t.Errorf("%s (Accept-Encoding %q): Content-Encoding %q; want %q", tc.path, tc.ae, enc, tc.wantEnc)
			continue
		}
		if vary := strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding"); vary != tc.wantVary {
			t.Errorf("%s (Accept-Encoding %q): Vary %q; want Accept-Encoding %v", tc.path, tc.ae, resp.Header.Get("Vary"), tc.wantVary)
		}
		if tc.path == "/empty" || tc.path == "/unchanged" {
			if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("%s: %d with %d bytes; want 204 or 304, empty", tc.path, resp.StatusCode, len(body))
			}
			continue
		}
		plain := testpeers.Decode(t, enc, body)
		if tc.path == "/small" {
			if string(plain) != "short" {
				t.Errorf("/small: %q", plain)
			}
			continue
		}
		if !bytes.Equal(plain, text) {
			t.Errorf("%s (Accept-Encoding %q): %d bytes after decoding; want the member's %d", tc.path, tc.ae, len(plain), len(text))
		}
		if tc.wantEnc != "" && tc.path != "/encoded" {
			if resp.Header.Get("Content-Length") != "" && resp.ContentLength != int64(len(body)) {
				t.Errorf("%s: Content-Length %d for %d bytes sent", tc.path, resp.ContentLength, len(body))
			}
			if len(body) > len(text)/10 {
				t.Errorf("%s: %s answer of %d bytes for %d; want it compressed", tc.path, enc, len(body), len(text))
			}
			t.Logf("%s %s: %d bytes → %d", tc.path, enc, len(text), len(body))
		}
	}
	resp, _ := get("/text", "gzip")
	if et := resp.Header.Get("ETag"); et != `W/"v1"` {
		t.Errorf("compressed ETag %q; want the member's made weak, W/\"v1\"", et)
	}
	if ar := resp.Header.Get("Accept-Ranges"); ar != "" {
		t.Errorf("compressed answer offers Accept-Ranges %q; ranges are of the uncompressed body", ar)
	}
}

// TestEncodeStreams: server-sent events through encode arrive event by
// event, compressed: the client decodes the first event while the member
// still holds the second.
func TestEncodeStreams(t *testing.T) {
	next := make(chan struct{})
	member := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-time.After(10 * time.Second):
				return
			}
		}
	})
	_, site := startProxy(t, "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\tencode gzip\n\treverse_proxy m=http://"+member.hostport()+"\n}\n", nil)
	req, _ := http.NewRequest(http.MethodGet, site+"/events", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if enc := resp.Header.Get("Content-Encoding"); enc != "gzip" {
		t.Fatalf("Content-Encoding %q; want gzip", enc)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(zr)
	for i := range 3 {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf("data: event %d\n", i); line != want {
			t.Fatalf("event %d: %q; want %q", i, line, want)
		}
		lines.ReadString('\n')
		next <- struct{}{} // only now may the member send the next one
	}
}

// FuzzAcceptEncoding: any Accept-Encoding chooses one of the offered
// formats or none, never panics, and chooses only a format the header
// accepts (by name with q > 0, or through *).
func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0.5, zstd", "*;q=0", "zstd;q=0,*", "gzip;q=1e9", ";;,,q=", "GZIP ; Q = 0.1"} {
		f.Add(s)
	}
	e := newEncoder(&config.Encode{Formats: []config.EncodeFormat{{Name: "zstd"}, {Name: "gzip"}}, MinimumLength: 512})
	f.Fuzz(func(t *testing.T, ae string) {
		r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		r.Header.Set("Accept-Encoding", ae)
		c := e.choose(r)
		if c == nil {
			return
		}
		if c.name != "zstd" && c.name != "gzip" {
			t.Fatalf("chose %q", c.name)
		}
		named, accepted, star := false, false, false
		for part := range strings.SplitSeq(ae, ",") {
			name, q := acceptToken(part)
			if q < 0 || q > 1 {
				t.Fatalf("q %v out of range in %q", q, part)
			}
			switch {
			case name == c.name:
				named, accepted = true, accepted || q > 0
			case name == "*" && q > 0:
				star = true
			}
		}
		if !accepted && (named || !star) {
			t.Fatalf("chose %s, which %q does not accept", c.name, ae)
		}
	})
}

// TestEncodeMatch: encode's match block replaces the default content
// types: the answers whose Content-Type (compared case-sensitively as a
// whole, with Caddy's * wildcards; one field on several lines takes any
// of its values) and status match are compressed, and only those: an
// image/svg+xml the list leaves out passes plain, and a status class
// keeps a 404 page plain.
func TestEncodeMatch(t *testing.T) {
	text := []byte(strings.Repeat("{\"event\": \"a member's answer worth compressing\"}\n", 4000))
	member := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		ct, status := r.URL.Query().Get("ct"), http.StatusOK
		if s := r.URL.Query().Get("status"); s != "" {
			fmt.Sscan(s, &status)
		}
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(status)
		w.Write(text)
	})
	site := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\tencode {\n\t\tgzip 6\n\t\tminimum_length 256\n\t\tmatch {\n" +
		"\t\t\theader Content-Type text/*\n\t\t\theader Content-Type application/json*\n\t\t\theader Content-Type *+xml\n" +
		"\t\t\tstatus 2xx 410\n\t\t}\n\t}\n" +
		"\treverse_proxy " + member.hostport() + "\n}\n"
	_, addr := startProxy(t, site, nil)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tc := range []struct {
		query   string
		wantEnc string
	}{
		{"ct=text/html;+charset=utf-8", "gzip"},
		{"ct=application/json", "gzip"},
		{"ct=application/json;+charset=utf-8", "gzip"},
		{"ct=application/atom%2Bxml", "gzip"},
		{"ct=application/javascript", ""}, // compressible by default, not in this list
		{"ct=image/svg", ""},
		{"ct=Text/HTML", ""}, // Caddy compares the value case-sensitively
		{"ct=text/plain&status=404", ""},
		{"ct=text/plain&status=410", "gzip"},
		{"ct=text/plain&status=203", "gzip"},
		{"", "gzip"}, // no Content-Type: sniffed (text/plain) before matching
	} {
		req, _ := http.NewRequest(http.MethodGet, addr+"/x?"+tc.query, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		enc := resp.Header.Get("Content-Encoding")
		if enc != tc.wantEnc {
			t.Errorf("?%s: Content-Encoding %q; want %q", tc.query, enc, tc.wantEnc)
			continue
		}
		if plain := testpeers.Decode(t, enc, body); !bytes.Equal(plain, text) {
			t.Errorf("?%s: %d bytes after decoding; want the member's %d", tc.query, len(plain), len(text))
		}
	}
}
