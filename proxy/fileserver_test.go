package proxy

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
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

// ranges is n one-byte ranges, from position first, step apart.
func oneByteRanges(n, first, step int) string {
	parts := make([]string, n)
	for i := range parts {
		p := first + i*step
		parts[i] = fmt.Sprintf("%d-%d", p, p)
	}
	return "bytes=" + strings.Join(parts, ",")
}

func TestFileServerRanges(t *testing.T) {
	ft := newFileTree(t)
	h := ft.handler(false)
	small, large := len(ft.small), len(ft.large)
	for _, tc := range []struct {
		name, file, rng string
		hdr             map[string]string
		wantStatus      int
		wantBody        string // checked when not empty
		wantMultipart   bool
		maxBody         int // checked when not 0
	}{
		{name: "one range", file: "small.bin", rng: "bytes=0-3", wantStatus: 206, wantBody: "abcd"},
		{name: "suffix", file: "small.bin", rng: "bytes=-4", wantStatus: 206, wantBody: string(ft.small[small-4:])},
		{name: "open end", file: "small.bin", rng: "bytes=8190-", wantStatus: 206, wantBody: string(ft.small[small-2:])},
		{name: "last beyond the end", file: "small.bin", rng: "bytes=8190-99999999999999999999999", wantStatus: 206, wantBody: string(ft.small[small-2:])},
		{name: "spaces around elements", file: "small.bin", rng: "bytes= 0-1 ,\t, 3-3", wantStatus: 206, wantMultipart: true},
		{name: "two ranges", file: "large.bin", rng: "bytes=0-0,100-100", wantStatus: 206, wantMultipart: true},
		{name: "200 ranges", file: "large.bin", rng: oneByteRanges(200, 0, 2), wantStatus: 206, wantMultipart: true, maxBody: 2 * large},
		{name: "201 ranges", file: "large.bin", rng: oneByteRanges(201, 0, 2), wantStatus: 200, wantBody: string(ft.large)},
		{name: "overlapping", file: "large.bin", rng: "bytes=0-10,5-15", wantStatus: 200, wantBody: string(ft.large)},
		{name: "the same range twice", file: "large.bin", rng: "bytes=0-0,0-0", wantStatus: 200, wantBody: string(ft.large)},
		{name: "suffix overlapping", file: "large.bin", rng: "bytes=65530-65534,-3", wantStatus: 200, wantBody: string(ft.large)},
		{name: "200 one-byte ranges of 8 KB", file: "small.bin", rng: oneByteRanges(200, 0, 2), wantStatus: 200, maxBody: 2 * small},
		{name: "10000 one-byte ranges of 8 KB", file: "small.bin", rng: oneByteRanges(small, 0, 1) + "," + oneByteRanges(10000-small, small+1, 0)[len("bytes="):], wantStatus: 200, maxBody: 2 * small},
		{name: "every byte of 8 KB", file: "small.bin", rng: oneByteRanges(small, 0, 1), wantStatus: 200, maxBody: 2 * small},
		{name: "not a number", file: "small.bin", rng: "bytes=a-b", wantStatus: 416},
		{name: "sign", file: "small.bin", rng: "bytes=+0-1,+3-4", wantStatus: 416},
		{name: "last before first", file: "small.bin", rng: "bytes=5-1", wantStatus: 416},
		{name: "other unit", file: "small.bin", rng: "items=0-1", wantStatus: 416},
		{name: "unsatisfiable", file: "small.bin", rng: "bytes=9000-", wantStatus: 416},
		{name: "If-Range that does not match", file: "small.bin", rng: "bytes=0-3", hdr: map[string]string{"If-Range": `"other"`}, wantStatus: 200, wantBody: string(ft.small)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Range": tc.rng}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			w := serveFiles(h, "GET", "/"+tc.file, hdr)
			body := w.Body.String()
			multipart := strings.HasPrefix(w.Header().Get("Content-Type"), "multipart/byteranges")
			if w.Code != tc.wantStatus || tc.wantBody != "" && body != tc.wantBody || multipart != tc.wantMultipart || tc.maxBody != 0 && len(body) > tc.maxBody {
				t.Errorf("GET /%s, Range %.50s = %d, multipart %v, %d bytes %.20q; want %d, multipart %v, body %.20q of at most %d bytes",
					tc.file, tc.rng, w.Code, multipart, len(body), body, tc.wantStatus, tc.wantMultipart, tc.wantBody, tc.maxBody)
			}
			if tc.wantStatus == 416 && tc.name == "unsatisfiable" && w.Header().Get("Content-Range") != fmt.Sprintf("bytes */%d", small) {
				t.Errorf("GET /%s, Range %s: Content-Range %q; want %q", tc.file, tc.rng, w.Header().Get("Content-Range"), fmt.Sprintf("bytes */%d", small))
			}
		})
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

// rangeSpecRE is one element of a range set, for referenceRanges.
var rangeSpecRE = regexp.MustCompile(`^[ \t]*([0-9]*)-([0-9]*)[ \t]*$`)

// referenceRanges is parseRangeHeader written the plain way, for
// FuzzRangeHeader: a regular expression per element and arbitrary-precision
// numbers.
func referenceRanges(h string, size int64) (count int, rs []byteRange, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found {
		return 0, nil, false
	}
	bsize := big.NewInt(size)
	for _, e := range strings.Split(spec, ",") {
		if strings.Trim(e, " \t") == "" {
			continue
		}
		m := rangeSpecRE.FindStringSubmatch(e)
		if m == nil || m[1] == "" && m[2] == "" {
			return 0, nil, false
		}
		count++
		first, _ := new(big.Int).SetString("0"+m[1], 10)
		last, _ := new(big.Int).SetString("0"+m[2], 10)
		var r byteRange
		switch {
		case m[1] == "":
			if last.Sign() == 0 || size == 0 {
				continue
			}
			start := new(big.Int).Sub(bsize, last)
			if start.Sign() < 0 {
				start.SetInt64(0)
			}
			r = byteRange{first: start.Int64(), last: size - 1}
		default:
			if m[2] != "" && last.Cmp(first) < 0 {
				return 0, nil, false
			}
			if first.Cmp(bsize) >= 0 {
				continue
			}
			r = byteRange{first: first.Int64(), last: size - 1}
			if m[2] != "" && last.Cmp(bsize) < 0 {
				r.last = last.Int64()
			}
		}
		rs = append(rs, r)
	}
	return count, rs, count > 0
}

// referenceOverlap compares every pair.
func referenceOverlap(rs []byteRange) bool {
	for i := range rs {
		for j := range i {
			if rs[i].first <= rs[j].last && rs[j].first <= rs[i].last {
				return true
			}
		}
	}
	return false
}

// FuzzRangeHeader: parseRangeHeader never panics and agrees with the plain
// reference on validity, the number of ranges, the satisfiable ranges and
// whether two of them overlap; what boundRange passes on to ServeContent is
// a range set it would pass on again unchanged, of at most maxRanges ranges,
// none overlapping, and cheaper than the whole file.
func FuzzRangeHeader(f *testing.F) {
	for _, s := range []string{"bytes=0-3", "bytes=-4", "bytes=10-", "bytes=0-0,0-0", "bytes=0-10,5-15", "bytes= 1-2 ,\t,3-4",
		"bytes=", "bytes=-", "bytes=5-1", "bytes=+1-2", "bytes=-0", "bytes=99999999999999999999-", "bytes=0-99999999999999999999",
		"items=0-1", "bytes=1-1,3-3,5-5", "bytes=0--1", "bytes=0-0,,1-1,2-", "bytes=1-2,-3"} {
		f.Add(s, int64(100))
	}
	f.Add("bytes=-9223372036854775807", int64(math.MaxInt64))
	f.Add("bytes=0-0", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		count, rs, ok := parseRangeHeader(h, size)
		wantCount, wantRs, wantOK := referenceRanges(h, size)
		if ok != wantOK || count != wantCount {
			t.Fatalf("parseRangeHeader(%q, %d) = count %d, ok %v; want %d, %v", h, size, count, ok, wantCount, wantOK)
		}
		if count <= maxRanges {
			if !slices.Equal(rs, wantRs) {
				t.Fatalf("parseRangeHeader(%q, %d) ranges = %v; want %v", h, size, rs, wantRs)
			}
			if got, want := overlapping(rs), referenceOverlap(wantRs); got != want {
				t.Fatalf("overlapping(%v) = %v; want %v", rs, got, want)
			}
		} else if len(rs) > maxRanges+1 {
			t.Fatalf("parseRangeHeader(%q, %d) kept %d ranges; want at most %d", h, size, len(rs), maxRanges+1)
		}
		v := boundRange(h, size)
		if v == "" || v == refusedRange {
			return
		}
		n, vrs, vok := parseRangeHeader(v, size)
		if !vok || n > maxRanges || boundRange(v, size) != v {
			t.Fatalf("boundRange(%q, %d) = %q, which is not a range set it passes on as it is", h, size, v)
		}
		if len(vrs) > 1 {
			var sum int64
			for _, r := range vrs {
				sum += r.last - r.first + 1
			}
			if overlapping(vrs) || sum+int64(len(vrs))*partOverhead > size {
				t.Fatalf("boundRange(%q, %d) = %q: overlapping or dearer than the file", h, size, v)
			}
		}
	})
}
