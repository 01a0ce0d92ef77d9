package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/routing"
)

// writeTree writes files (path → content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// do sends one request and returns status, body and headers.
func do(t *testing.T, method, url, body string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body == "" {
		req.Body = nil
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestTryFiles: Caddy's try_files on a static single-page site: a file
// that exists is served, a directory with {path}/, anything else falls back
// to /index.html; a dot file is never chosen; =404 answers an error; a
// query part rewrites the query; a root with a matcher gives try_files and
// file_server another directory.
func TestTryFiles(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"index.html":        "spa",
		"assets/app.js":     "js",
		"docs/index.html":   "docs",
		".git/config":       "secret",
		"strict/there.txt":  "there",
		"big/a.txt":         "aaaa",
		"big/b.txt":         "bbbbbbbb",
		"other/special.txt": "other root",
	})
	other := filepath.Join(dir, "other")
	src := fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:0 {
	root * %s
	root /special/* %s
	handle /strict/* {
		try_files {path} =404
		file_server
	}
	handle /php/* {
		try_files {path} /index.html?{query}&p={path}
		respond "{uri}"
	}
	handle /largest {
		try_files /big/a.txt /big/b.txt {
			policy largest_size
		}
		file_server
	}
	handle /special/* {
		uri strip_prefix /special
		file_server
	}
	handle {
		try_files {path} {path}/ /index.html
		file_server
	}
}
`, dir, other)
	_, site := startProxy(t, src, nil)
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/assets/app.js", 200, "js"},
		{"/about/team", 200, "spa"},
		{"/", 200, "spa"},
		{"/docs", 200, "docs"},
		{"/.git/config", 200, "spa"},
		{"/strict/there.txt", 200, "there"},
		{"/strict/missing.txt", 404, "404 Not Found\n"},
		{"/php/x?a=1", 200, "/index.html?a=1&p=/php/x"},
		{"/largest", 200, "bbbbbbbb"},
		{"/special/special.txt", 200, "other root"},
	} {
		if status, body, _ := do(t, "GET", site+tc.path, "", nil); status != tc.status || body != tc.body {
			t.Errorf("GET %s = %d %q; want %d %q", tc.path, status, body, tc.status, tc.body)
		}
	}
}

// TestHandleErrors: Caddy's handle_errors answers the errors Tether
// produces (a file's 404, a balancer's 502 and 503, basic_auth's 401, a
// body over request_body's 413, the error directive), with the {err.*}
// placeholders and the error's status unless a respond names another;
// a member's own error answer passes untouched; an error page that fails
// itself gets the default page; a member serving error pages gets the
// request without its body. The first block for a status answers (those
// with statuses before the one without, else in file order, as Caddy).
func TestHandleErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	m := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "the member's own 500")
	})
	var pageBody atomic.Value
	var pageReq atomic.Value
	pages := newBackend(t, "pages", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		pageBody.Store(string(b))
		pageReq.Store(r.Method + " " + r.URL.RequestURI())
		io.WriteString(w, "maintenance page")
	})
	stopped := newBackend(t, "s", nil)
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	dir := writeTree(t, map[string]string{"errors/404.html": "<h1>not here</h1>", "ok.txt": "ok"})
	src := fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:0 {
	root * %s
	request_body {
		max_size 10
	}
	basic_auth /admin/* {
		bob %s
	}
	error /forbidden* "no entry for {path}" 403
	handle /api/* {
		reverse_proxy dead=http://%s
	}
	handle /member/* {
		reverse_proxy m=http://%s
	}
	handle /down/* {
		reverse_proxy {
			name down
			to s=http://%s
		}
	}
	file_server
	handle_errors 404 410 {
		rewrite * /errors/404.html
		file_server
	}
	handle_errors 503 {
		rewrite * /maintenance?from={path}
		reverse_proxy pages=http://%s
	}
	handle_errors 5xx {
		respond "{err.status_code} {err.status_text}: {err.message} [{err.id}]"
	}
	handle_errors 403 {
		respond "{http.error.message}" 451
	}
	handle_errors {
		respond "other {err.status_code}"
	}
}
`, dir, hash, dead, m.hostport(), stopped.hostport(), pages.hostport())
	srv, site := startProxy(t, src, nil)
	if err := srv.Balancer("down").SetState("s", routing.Stopped); err != nil {
		t.Fatal(err)
	}

	status, body, _ := do(t, "GET", site+"/ok.txt", "", nil)
	if status != 200 || body != "ok" {
		t.Errorf("GET /ok.txt = %d %q; want the file", status, body)
	}
	status, body, h := do(t, "GET", site+"/nope.txt", "", nil)
	if status != 404 || body != "<h1>not here</h1>" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("GET /nope.txt = %d %q (%s); want 404 with errors/404.html", status, body, h.Get("Content-Type"))
	}
	status, body, h = do(t, "GET", site+"/api/x", "", nil)
	if want := "502 Bad Gateway: the member failed to answer [" + h.Get("X-Request-Id") + "]"; status != 502 || body != want || h.Get("X-Request-Id") == "" {
		t.Errorf("GET /api/x (member refuses connections) = %d %q; want 502 %q", status, body, want)
	}
	status, body, _ = do(t, "GET", site+"/member/x", "", nil)
	if status != 500 || body != "the member's own 500" {
		t.Errorf("GET /member/x = %d %q; want the member's own 500 untouched", status, body)
	}
	status, body, h = do(t, "GET", site+"/admin/", "", nil)
	if status != 401 || body != "other 401" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("GET /admin/ = %d %q (WWW-Authenticate %q); want 401 \"other 401\" with the challenge", status, body, h.Get("WWW-Authenticate"))
	}
	status, body, _ = do(t, "POST", site+"/member/x", strings.Repeat("x", 100), nil)
	if status != 413 || body != "other 413" {
		t.Errorf("POST of 100 bytes over max_size 10 = %d %q; want 413 \"other 413\"", status, body)
	}
	status, body, _ = do(t, "GET", site+"/forbidden/door", "", nil)
	if status != 451 || body != "no entry for /forbidden/door" {
		t.Errorf("GET /forbidden/door (error directive) = %d %q; want 451 with its message", status, body)
	}
	status, body, _ = do(t, "PUT", site+"/down/x?a=1", "0123456789", nil)
	if status != 200 || body != "maintenance page" {
		t.Errorf("PUT /down/x (no member) = %d %q; want the member's maintenance page", status, body)
	}
	if got := pageReq.Load(); got != "PUT /maintenance?from=/down/x" || pageBody.Load() != "" {
		t.Errorf("the error page member got %v with body %q; want PUT /maintenance?from=/down/x and no body", got, pageBody.Load())
	}

	// An error page that fails (its file is missing) gets the default
	// page, once.
	src2 := fmt.Sprintf("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\troot * %s\n\tfile_server\n\thandle_errors {\n\t\trewrite * /errors/missing.html\n\t\tfile_server\n\t}\n}\n", dir)
	_, site2 := startProxy(t, src2, nil)
	if status, body, _ := do(t, "GET", site2+"/nope", "", nil); status != 404 || body != "404 Not Found\n" {
		t.Errorf("GET /nope with a missing error page = %d %q; want the default 404", status, body)
	}
	// Outside handle_errors the placeholders are empty; a request no
	// route answers is a 404 error too.
	src3 := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\trespond /x \"[{err.status_code}]\"\n\thandle_errors {\n\t\trespond \"nothing at {path}\" 404\n\t}\n}\n"
	_, site3 := startProxy(t, src3, nil)
	if _, body := testpeers.Get(t, site3+"/x", nil); body != "[]" {
		t.Errorf("GET /x = %q; want [] (no error)", body)
	}
	if status, body, _ := do(t, "GET", site3+"/y", "", nil); status != 404 || body != "nothing at /y" {
		t.Errorf("GET /y (no route) = %d %q; want 404 from handle_errors", status, body)
	}
}
