package main

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// besideCaddyIntercept is a site block that decides on answers with
// response matchers: encode's match block, and a reverse_proxy's
// handle_response (X-Accel-Redirect to a file, an error page with a copied
// header, copy_response with another status, a block that answers
// nothing) and replace_status. %[1]d is the port, %[2]d the member's,
// %[3]s the directory of private files.
const besideCaddyIntercept = `{
	admin off
}
http://127.0.0.1:%[1]d {
	encode {
		gzip 6
		minimum_length 256
		match {
			header Content-Type text/*
			header Content-Type application/json*
			status 2xx
		}
	}
	root * %[3]s/public
	reverse_proxy 127.0.0.1:%[2]d {
		header_down -X-Powered-By
		@accel header X-Accel-Redirect *
		@unavailable status 5xx
		@notfound {
			status 404
			header !X-Keep
		}
		@moved status 3xx
		@nocontent status 204
		handle_response @accel {
			root * %[3]s/private
			rewrite * {rp.header.X-Accel-Redirect}
			file_server
		}
		handle_response @unavailable {
			root * %[3]s/private
			rewrite * /{rp.status_code}.html
			copy_response_headers {
				include Retry-After
			}
			file_server
		}
		replace_status @notfound 410
		handle_response @moved {
			header X-Was "{rp.status_code}"
			copy_response 200
		}
		handle_response @nocontent {
			header X-After-Proxy yes
		}
	}
	file_server
}
`

// TestBesideCaddyIntercept runs the site block above in Caddy 2.6 and in
// Tether in front of one member and compares status, headers (all but
// Date, Server and Last-Modified, and Content-Length of compressed
// answers) and decoded bodies, and the compressed sizes (within 10 %%).
func TestBesideCaddyIntercept(t *testing.T) {
	needBinaries(t)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"private/secret.txt": "the private file\n", "private/503.html": "<h1>back soon</h1>\n",
		"public/after.txt": "served after the proxy\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string // 100 KB of JSON lines, as an API's answer
	for i := 0; len(lines)*60 < 100_000; i++ {
		lines = append(lines, fmt.Sprintf(`{"id": %d, "session": "%x", "member": "tomcat%d", "at": %q}`, i, i*2654435761, i%3+1, time.Unix(int64(1.7e9)+int64(i)*37, 0).UTC()))
	}
	text := strings.Join(lines, "\n")
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Powered-By", "Servlet/6.0")
		switch r.URL.Path {
		case "/json", "/js", "/svg", "/text404":
			h.Set("Content-Type", map[string]string{"/json": "application/json", "/js": "application/javascript", "/svg": "image/svg+xml", "/text404": "text/plain"}[r.URL.Path])
			if r.URL.Path == "/text404" {
				h.Set("X-Keep", "1")
				w.WriteHeader(http.StatusNotFound)
			}
			io.WriteString(w, text)
		case "/accel":
			h.Set("X-Accel-Redirect", "/secret.txt")
			io.WriteString(w, "the member's own body")
		case "/unavailable":
			h.Set("Retry-After", "30")
			h.Set("X-Internal", "member-7")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "member overloaded")
		case "/gone":
			h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "no such page")
		case "/moved":
			h.Set("Location", "/elsewhere")
			h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusFound)
			io.WriteString(w, "moved body")
		case "/after.txt":
			w.WriteHeader(http.StatusNoContent)
		default:
			h.Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "plain answer")
		}
	}))
	defer member.Close()
	memberPort := member.Listener.Addr().(*net.TCPAddr).Port
	caddyPort := freeLoopbackPort(t)
	startCaddy(t, fmt.Sprintf(besideCaddyIntercept, caddyPort, memberPort, dir), caddyPort)
	tp, _ := startTether(t, fmt.Sprintf(besideCaddyIntercept, 0, memberPort, dir))
	targets := []struct{ name, base string }{{"caddy", fmt.Sprintf("http://127.0.0.1:%d", caddyPort)}, {"tether", "http://" + tp.addr}}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/json", "/js", "/svg", "/text404", "/accel", "/unavailable", "/gone", "/moved", "/after.txt", "/other"} {
		var got [2]string
		var sizes [2]int
		for i, tg := range targets {
			req, _ := http.NewRequest(http.MethodGet, tg.base+path, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s GET %s: %v", tg.name, path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			enc := resp.Header.Get("Content-Encoding")
			var b strings.Builder
			fmt.Fprintf(&b, "%d", resp.StatusCode)
			for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
				// Caddy names itself in Server; file_server dates differ
				// by the file's copy; compressed lengths are compared below.
				if k == "Date" || k == "Server" || k == "Last-Modified" || k == "Etag" || k == "Content-Length" && enc != "" {
					continue
				}
				fmt.Fprintf(&b, " %s=%q", k, resp.Header[k])
			}
			plain := body
			if enc != "" {
				plain = testpeers.Decode(t, enc, body)
			}
			if len(plain) > 80 {
				fmt.Fprintf(&b, " body=%d bytes", len(plain))
			} else {
				fmt.Fprintf(&b, " body=%q", plain)
			}
			got[i], sizes[i] = b.String(), len(body)
		}
		if got[0] != got[1] {
			t.Errorf("GET %s:\n caddy  %s\n tether %s", path, got[0], got[1])
			continue
		}
		t.Logf("GET %s: both %s", path, got[0])
		if path == "/json" {
			ratio := float64(sizes[1]) / float64(sizes[0])
			t.Logf("GET /json (%d bytes) gzip: caddy %d bytes, tether %d (%.3f×)", len(text), sizes[0], sizes[1], ratio)
			if ratio < 0.9 || ratio > 1.1 {
				t.Errorf("/json: tether sent %d bytes, caddy %d: not within 10 %%", sizes[1], sizes[0])
			}
		}
	}
}
