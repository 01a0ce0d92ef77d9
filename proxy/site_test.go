package proxy

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-proxy/tether/internal/testpeers"
)

func TestStripPathParams(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/app/x", "/app/x"},
		{"/app;jsessionid=A.t1", "/app"},
		{"/app;jsessionid=A.t1/page.jsp", "/app/page.jsp"},
		{"/a;x=1/b;y=2/c", "/a/b/c"},
		{";", ""},
	} {
		if got := stripPathParams(tc.in); got != tc.want {
			t.Errorf("stripPathParams(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestPathPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"*", "/anything", true},
		{"/app/*", "/app/x/y", true},
		{"/app/*", "/app/", true},
		{"/app/*", "/apple", false},
		{"*.jsp", "/x/page.jsp", true},
		{"*.jsp", "/x/page.html", false},
		{"/exact", "/exact", true},
		{"/exact", "/exact/", false},
	} {
		if got := compilePattern(tc.pattern).match(tc.path); got != tc.want {
			t.Errorf("pattern %q match(%q) = %v; want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestMountsExcludesAndFileServer(t *testing.T) {
	app := newBackend(t, "app", nil)
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "index.html"), []byte("<h1>home</h1>"), 0o644)
	os.MkdirAll(filepath.Join(root, "app", "img"), 0o755)
	os.WriteFile(filepath.Join(root, "app", "img", "logo.png"), []byte("\x89PNG\r\n\x1a\nfake"), 0o644)
	os.WriteFile(filepath.Join(root, ".htpasswd"), []byte("secret"), 0o644)
	os.MkdirAll(filepath.Join(root, "nolist"), 0o755)
	src := `{
	admin off
}
http://127.0.0.1:0 {
	reverse_proxy /app/* !/app/img/* {
		to app=http://` + app.hostport() + `
	}
	file_server {
		root ` + root + `
	}
}
`
	_, site := startProxy(t, src, nil)
	for _, tc := range []struct {
		path, wantRoute string
		wantStatus      int
		wantType        string
	}{
		{path: "/app/page", wantRoute: "app", wantStatus: 200},
		{path: "/app;jsessionid=x.app/page", wantRoute: "app", wantStatus: 200},
		{path: "/app/img/logo.png", wantStatus: 200, wantType: "image/png"},
		{path: "/", wantStatus: 200, wantType: "text/html; charset=utf-8"},
		{path: "/.htpasswd", wantStatus: 404},
		{path: "/nolist/", wantStatus: 404},
		{path: "/missing", wantStatus: 404},
	} {
		resp, _ := testpeers.Get(t, site+tc.path, nil)
		if resp.StatusCode != tc.wantStatus || resp.Header.Get("X-Route") != tc.wantRoute ||
			tc.wantType != "" && resp.Header.Get("Content-Type") != tc.wantType {
			t.Errorf("GET %s: status %d, route %q, type %q; want %d, %q, %q", tc.path, resp.StatusCode,
				resp.Header.Get("X-Route"), resp.Header.Get("Content-Type"), tc.wantStatus, tc.wantRoute, tc.wantType)
		}
	}
	// Ranges and conditional requests come with the file server.
	resp, body := testpeers.Get(t, site+"/index.html", map[string]string{"Range": "bytes=0-3"})
	if resp.StatusCode != http.StatusPartialContent || body != "<h1>" {
		t.Errorf("Range 0-3: %d %q; want 206 \"<h1>\"", resp.StatusCode, body)
	}
	lm := resp.Header.Get("Last-Modified")
	resp, _ = testpeers.Get(t, site+"/index.html", map[string]string{"If-Modified-Since": lm})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %d; want 304", resp.StatusCode)
	}
}

func TestHostRouting(t *testing.T) {
	a := newBackend(t, "a", nil)
	b := newBackend(t, "b", nil)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	src := fmt.Sprintf(`{
	admin off
}
http://a.test:%[1]d {
	reverse_proxy {
		to a=http://%[2]s
	}
}
http://b.test:%[1]d, http://*.b.test:%[1]d {
	reverse_proxy {
		to b=http://%[3]s
	}
}
`, port, a.hostport(), b.hostport())
	_, _ = startProxy(t, src, nil)
	addr := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for _, tc := range []struct {
		host, wantRoute string
		wantStatus      int
	}{
		{"a.test", "a", 200},
		{"A.TEST:" + fmt.Sprint(port), "a", 200},
		{"b.test", "b", 200},
		{"www.b.test", "b", 200},
		{"c.test", "", http.StatusMisdirectedRequest},
	} {
		req, _ := http.NewRequest("GET", addr, nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || resp.Header.Get("X-Route") != tc.wantRoute {
			t.Errorf("Host %q: status %d from %q; want %d from %q", tc.host, resp.StatusCode, resp.Header.Get("X-Route"), tc.wantStatus, tc.wantRoute)
		}
	}
}
