package proxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/tether-proxy/tether/config"
)

// fileTree is the file server's test root: files, dot files, and real
// symbolic links that stay inside the root, leave it, or lead to dot files.
type fileTree struct {
	root    string // the file server's root
	outside string // a directory beside the root, with secret.txt
	small   []byte // small.bin: 8 KiB
	large   []byte // large.bin: 64 KiB
}

func newFileTree(t *testing.T) fileTree {
	t.Helper()
	ft := fileTree{root: filepath.Join(t.TempDir(), "www"), outside: t.TempDir()}
	mkdir := func(name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(ft.root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, body []byte) {
		t.Helper()
		mkdir(filepath.Dir(name))
		if err := os.WriteFile(filepath.Join(ft.root, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(ft.root, name)); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(ft.outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("outside secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	ft.small = filePattern(8 << 10)
	ft.large = filePattern(64 << 10)

	write("index.html", []byte("<h1>home</h1>"))
	write("notes.txt", []byte("notes"))
	write("small.bin", ft.small)
	write("large.bin", ft.large)
	write(".git/config", []byte("[core] secret"))
	write(".htpasswd", []byte("user:secret"))
	write("withindex/index.html", []byte("<p>withindex</p>"))
	mkdir(`\evil.example`)
	mkdir("a b")
	write("sub/a.txt", []byte("a"))
	write("sub/.hidden", []byte("hidden secret"))
	mkdir("idxout")

	rel, err := filepath.Rel(ft.root, secret)
	if err != nil {
		t.Fatal(err)
	}
	link(".git/config", "innocent")                      // in the root, but a dot file
	link(secret, "pw")                                   // absolute, out of the root
	link("/etc/passwd", "passwd")                        // the issue's own example
	link(rel, "up")                                      // relative, out of the root
	link(ft.outside, "outdir")                           // a directory out of the root
	link(".git", "hiddendir")                            // a dot directory
	link("notes.txt", "ok.txt")                          // relative, in the root
	link(filepath.Join(ft.root, "notes.txt"), "abs.txt") // absolute, in the root
	link("loop", "loop")                                 // ELOOP
	link("missing", "dangling")                          // ENOENT
	link("..", "sub/back")                               // a directory in the root
	link(secret, "sub/escape")                           // listed in sub/: must not be
	link("../.git/config", "sub/config")                 // listed in sub/: must not be
	link("a.txt", "sub/ok")                              // listed in sub/: must be
	link("../withindex", "sub/dir")                      // listed in sub/ as a directory
	link("gone", "sub/gone")                             // dangling: not listed
	link(secret, "idxout/index.html")                    // an index file out of the root
	if err := syscall.Mkfifo(filepath.Join(ft.root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return ft
}

// pattern is n bytes that differ from one position to the next.
func filePattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func (ft fileTree) handler(browse bool) http.Handler {
	return newFileServer(&config.FileServer{Root: ft.root, Index: []string{"index.html"}, Browse: browse})
}

// serve sends a request through h; target is the request target exactly
// as a client writes it on the wire.
func serveFiles(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestFileServerSymlinksStayInRoot(t *testing.T) {
	ft := newFileTree(t)
	for _, browse := range []bool{false, true} {
		h := ft.handler(browse)
		for _, tc := range []struct {
			target      string
			wantStatus  int
			wantBody    string // checked when not empty
			browsedWant int    // wantStatus with browse on, when it differs
		}{
			{target: "/notes.txt", wantStatus: 200, wantBody: "notes"},
			{target: "/ok.txt", wantStatus: 200, wantBody: "notes"},
			{target: "/abs.txt", wantStatus: 200, wantBody: "notes"},
			{target: "/sub/back/notes.txt", wantStatus: 200, wantBody: "notes"},
			{target: "/sub/ok", wantStatus: 200, wantBody: "a"},
			{target: "/innocent", wantStatus: 404},
			{target: "/pw", wantStatus: 404},
			{target: "/passwd", wantStatus: 404},
			{target: "/up", wantStatus: 404},
			{target: "/outdir/secret.txt", wantStatus: 404},
			{target: "/outdir/", wantStatus: 404},
			{target: "/hiddendir/config", wantStatus: 404},
			{target: "/sub/config", wantStatus: 404},
			{target: "/sub/escape", wantStatus: 404},
			{target: "/idxout/", wantStatus: 404, browsedWant: 200}, // a listing without index.html
			{target: "/loop", wantStatus: 404},
			{target: "/dangling", wantStatus: 404},
			{target: "/.git/config", wantStatus: 404},
			{target: "/sub/.hidden", wantStatus: 404},
		} {
			if browse && tc.browsedWant != 0 {
				tc.wantStatus = tc.browsedWant
			}
			w := serveFiles(h, "GET", tc.target, nil)
			body := w.Body.String()
			if w.Code != tc.wantStatus || tc.wantBody != "" && body != tc.wantBody || strings.Contains(body, "secret") || strings.Contains(body, "root:") {
				t.Errorf("browse %v: GET %s = %d %.60q; want %d %q", browse, tc.target, w.Code, body, tc.wantStatus, tc.wantBody)
			}
		}
	}
}

// TestFileServerServesOnlyRegularFiles: a FIFO in the root is not opened
// (opening one blocks until a writer comes). The test holds the FIFO open
// for reading and writing and fills it first, so that a file server that
// does open it gets data at once and the test fails rather than hangs.
func TestFileServerServesOnlyRegularFiles(t *testing.T) {
	ft := newFileTree(t)
	fifo, err := os.OpenFile(filepath.Join(ft.root, "fifo"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fifo.Close()
	if _, err := fifo.Write(bytes.Repeat([]byte("x"), 1024)); err != nil {
		t.Fatal(err)
	}
	if w := serveFiles(ft.handler(false), "GET", "/fifo", nil); w.Code != 404 {
		t.Errorf("GET /fifo = %d %.60q; want 404", w.Code, w.Body.String())
	}
}

func TestFileServerRedirectsStayOnSite(t *testing.T) {
	ft := newFileTree(t)
	h := ft.handler(false)
	for _, tc := range []struct {
		target, wantLocation string
	}{
		{target: "/%2fevil.example/..%2f..", wantLocation: "/"},
		{target: "//sub", wantLocation: "/sub/"},
		{target: "///sub", wantLocation: "/sub/"},
		{target: "/sub", wantLocation: "/sub/"},
		{target: "/sub?x=1&y=%2F%2Fa", wantLocation: "/sub/?x=1&y=%2F%2Fa"},
		{target: "/./sub", wantLocation: "/sub/"},
		{target: "/sub;jsessionid=A.t1", wantLocation: "/sub/"},
		{target: "/%5Cevil.example", wantLocation: "/%5Cevil.example/"},
		{target: "/a%20b", wantLocation: "/a%20b/"},
		{target: "/withindex", wantLocation: "/withindex/"},
	} {
		w := serveFiles(h, "GET", tc.target, nil)
		loc := w.Header().Get("Location")
		if w.Code != http.StatusMovedPermanently || loc != tc.wantLocation {
			t.Errorf("GET %s = %d, Location %q; want 301, Location %q", tc.target, w.Code, loc, tc.wantLocation)
		}
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\ ") {
			t.Errorf("GET %s: Location %q is not a path beginning with exactly one '/'", tc.target, loc)
		}
	}
}

func TestFileServerBadNames(t *testing.T) {
	ft := newFileTree(t)
	h := ft.handler(true)
	long := strings.Repeat("a", 300)
	for _, tc := range []struct {
		name, target string
		wantStatus   int
	}{
		{name: "NUL", target: "/%00", wantStatus: 400},
		{name: "NUL in a name", target: "/notes.txt%00.png", wantStatus: 400},
		{name: "NUL in a directory", target: "/sub%00/a.txt", wantStatus: 400},
		{name: "name over NAME_MAX", target: "/" + long, wantStatus: 414},
		{name: "directory over NAME_MAX", target: "/sub/" + long + "/x", wantStatus: 414},
		{name: "path over PATH_MAX through links", target: "/" + strings.Repeat("sub/back/", 600) + "notes.txt", wantStatus: 404},
		{name: "path over PATH_MAX, missing", target: "/" + strings.Repeat("x/", 2100), wantStatus: 404},
		{name: "file as directory", target: "/notes.txt/x", wantStatus: 404},
		{name: "invalid UTF-8", target: "/%ff%fe", wantStatus: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := serveFiles(h, "GET", tc.target, nil); w.Code != tc.wantStatus {
				t.Errorf("GET %.60s = %d %.60q; want %d", tc.target, w.Code, w.Body.String(), tc.wantStatus)
			}
		})
	}
}

// TestFileServerBrowseListsOnlyWhatItServes: a listing shows no dot file,
// and no link that leads out of the root, to a dot file, or nowhere.
func TestFileServerBrowseListsOnlyWhatItServes(t *testing.T) {
	ft := newFileTree(t)
	w := serveFiles(ft.handler(true), "GET", "/sub/", nil)
	var got []string
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(w.Body.String(), -1) {
		got = append(got, m[1])
	}
	want := []string{"./a.txt", "./back/", "./dir/", "./ok"}
	if w.Code != 200 || !slices.Equal(got, want) {
		t.Errorf("GET /sub/ = %d, links %q; want 200, links %q", w.Code, got, want)
	}
	if w := serveFiles(ft.handler(false), "GET", "/sub/", nil); w.Code != 404 {
		t.Errorf("browse off: GET /sub/ = %d; want 404", w.Code)
	}
}

// TestFileServerListingEscapesNames: a name is a relative link that cannot
// become a scheme, and text that cannot become markup.
func TestFileServerListingEscapesNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"javascript:alert(1)", `<b>"x"&'`, "q?#"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := newFileServer(&config.FileServer{Root: dir, Browse: true})
	w := serveFiles(h, "GET", "/", nil)
	body := w.Body.String()
	for _, want := range []string{
		`<a href="./%3Cb%3E%22x%22&amp;%27">&lt;b&gt;&#34;x&#34;&amp;&#39;</a>`,
		`<a href="./javascript:alert%281%29">javascript:alert(1)</a>`,
		`<a href="./q%3F%23">q?#</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / listing:\n%s\nwant it to contain %s", body, want)
		}
	}
}

// TestFileServerKeepsItsBehaviour: index files, no listing without browse,
// no dot files, GET and HEAD only, conditional requests.
func TestFileServerKeepsItsBehaviour(t *testing.T) {
	ft := newFileTree(t)
	h := ft.handler(false)
	for _, tc := range []struct {
		method, target string
		hdr            map[string]string
		wantStatus     int
		wantBody       string
		wantHeader     map[string]string
	}{
		{method: "GET", target: "/", wantStatus: 200, wantBody: "<h1>home</h1>", wantHeader: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{method: "GET", target: "/withindex/", wantStatus: 200, wantBody: "<p>withindex</p>"},
		{method: "GET", target: "/sub/back/", wantStatus: 200, wantBody: "<h1>home</h1>"},
		{method: "GET", target: "/sub/", wantStatus: 404},
		{method: "GET", target: "/.htpasswd", wantStatus: 404},
		{method: "GET", target: "/sub/../.htpasswd", wantStatus: 404},
		{method: "GET", target: "/notes.txt;jsessionid=A.t1", wantStatus: 200, wantBody: "notes"},
		{method: "GET", target: "/ok.txt", wantStatus: 200, wantBody: "notes", wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{method: "HEAD", target: "/notes.txt", wantStatus: 200, wantHeader: map[string]string{"Content-Length": "5"}},
		{method: "POST", target: "/notes.txt", wantStatus: 405, wantHeader: map[string]string{"Allow": "GET, HEAD"}},
		{method: "DELETE", target: "/notes.txt", wantStatus: 405, wantHeader: map[string]string{"Allow": "GET, HEAD"}},
		{method: "GET", target: "/notes.txt", hdr: map[string]string{"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, wantStatus: 304},
		{method: "GET", target: "/notes.txt", hdr: map[string]string{"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}, wantStatus: 412},
		{method: "GET", target: "/missing", wantStatus: 404},
	} {
		w := serveFiles(h, tc.method, tc.target, tc.hdr)
		if w.Code != tc.wantStatus || tc.wantBody != "" && w.Body.String() != tc.wantBody {
			t.Errorf("%s %s = %d %.40q; want %d %q", tc.method, tc.target, w.Code, w.Body.String(), tc.wantStatus, tc.wantBody)
		}
		for k, v := range tc.wantHeader {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s %s: %s %q; want %q", tc.method, tc.target, k, got, v)
			}
		}
	}
}
