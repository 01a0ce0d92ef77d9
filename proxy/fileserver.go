package proxy

import (
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/tether-proxy/tether/config"
)

// fileServer serves a site's static files: what Apache's DocumentRoot
// served for paths no JkMount covered. Content types, ranges and
// conditional requests come from http.ServeContent; directories serve their
// index file, and list their contents only with browse on. Dot files
// (.htaccess, .git) are never served.
//
// # Symbolic links
//
// Links are followed, but never out of the root: every name is resolved
// link by link (resolve), a link that leads out of the root or to a name
// with a dot element is 404, and the file is then opened through an
// os.Root, so the kernel refuses an escape even if a link is swapped in
// between. The dot-file rule applies to the name the links lead to, so
// "innocent -> .git/config" is as hidden as .git/config. Only regular files
// and directories are served (never a FIFO, which would block the open, or
// a device). Listings show only what a request would be served.
//
// The root is resolved and opened for every request, not once: a root that
// is itself a link can be switched to a new release without a reload, and
// no descriptor outlives a configuration.
type fileServer struct {
	root   string // absolute, as configured
	index  []string
	browse bool
}

func newFileServer(cfg *config.FileServer) *fileServer {
	root := cfg.Root
	if abs, err := filepath.Abs(root); err == nil && root != "" {
		root = abs
	}
	f := &fileServer{root: root, index: cfg.Index, browse: cfg.Browse}
	if len(f.index) == 0 {
		f.index = []string{"index.html", "index.htm"}
	}
	return f
}

// maxLinks is how many symbolic links one name may pass through: Linux's
// own limit (MAXSYMLINKS), after which open(2) says ELOOP.
const maxLinks = 40

// errOutsideRoot is resolve's answer for a link that leads out of the
// root: the file does not exist as far as the client is concerned.
var errOutsideRoot = errors.New("symbolic link leads out of the root")

func (f *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := errorOf(r); e != nil {
		// An error page (handle_errors): served with the error's status,
		// whatever the method, whole (no range, no 304).
		r = r.Clone(r.Context())
		for _, h := range []string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
			r.Header.Del(h)
		}
		if r.Method != http.MethodHead {
			r.Method = http.MethodGet
		}
		w = &errorStatusWriter{ResponseWriter: w, status: e.status}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		serveError(w, r, http.StatusMethodNotAllowed, "the file server answers GET and HEAD only")
		return
	}
	name := path.Clean("/" + stripPathParams(r.URL.Path))
	if strings.IndexByte(name, 0) >= 0 {
		// No file has a NUL in its name; os calls would say EINVAL.
		serveError(w, r, http.StatusBadRequest, "the path has a NUL byte")
		return
	}
	if hasDotElement(name) {
		serveError(w, r, http.StatusNotFound, "no such file")
		return
	}
	dir := f.root
	if v := requestRoot(r); v != "" {
		dir = v
	}
	if dir == "" {
		serveError(w, r, http.StatusNotFound, "no root for this request")
		return
	}
	top, err := filepath.EvalSymlinks(dir)
	if err != nil {
		fileError(w, r, err)
		return
	}
	root, err := os.OpenRoot(top)
	if err != nil {
		fileError(w, r, err)
		return
	}
	defer root.Close()
	tops := []string{top, dir}
	rel, info, err := resolve(root, tops, name[1:])
	if err != nil {
		fileError(w, r, err)
		return
	}
	if !info.IsDir() {
		serveFile(w, r, root, rel, path.Base(name))
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/") {
		dirRedirect(w, r, name)
		return
	}
	for _, idx := range f.index {
		irel, iinfo, err := resolve(root, tops, path.Join(rel, idx))
		if err == nil && iinfo.Mode().IsRegular() {
			serveFile(w, r, root, irel, idx)
			return
		}
	}
	if f.browse {
		list(w, r, root, tops, rel)
		return
	}
	serveError(w, r, http.StatusNotFound, "no such file")
}

// resolve follows the symbolic links on the way to name (slash-separated,
// relative to the root, "" for the root itself) as the kernel would, but
// refuses any that leads out of the root, and returns the link-free name it
// reaches, relative to the root, with that name's Lstat. A relative link
// target is taken from the link's directory, ".." in it included; an
// absolute one must begin with one of tops (the root's real path or its
// path as configured), and is taken from the root. The result has no dot
// element, and is a regular file or a directory; otherwise the error
// satisfies errors.Is(err, fs.ErrNotExist) or is errOutsideRoot.
func resolve(root *os.Root, tops []string, name string) (string, fs.FileInfo, error) {
	todo := strings.Split(name, "/")
	var done []string
	links := 0
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", nil, errOutsideRoot
			}
			done = done[:len(done)-1]
			continue
		}
		p := strings.Join(append(done, elem), "/")
		fi, err := root.Lstat(filepath.FromSlash(p))
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, elem)
			continue
		}
		if links++; links > maxLinks {
			return "", nil, &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		target, err := root.Readlink(filepath.FromSlash(p))
		if err != nil {
			return "", nil, err
		}
		target = filepath.ToSlash(target)
		if path.IsAbs(target) {
			var ok bool
			if target, ok = underTop(tops, target); !ok {
				return "", nil, errOutsideRoot
			}
			done = done[:0]
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	rel := strings.Join(done, "/")
	if rel == "" {
		rel = "."
	}
	info, err := root.Lstat(filepath.FromSlash(rel))
	if err != nil {
		return "", nil, err
	}
	if hasDotElement(rel) || !info.Mode().IsRegular() && !info.IsDir() {
		return "", nil, &fs.PathError{Op: "resolve", Path: rel, Err: fs.ErrNotExist}
	}
	return rel, info, nil
}

// underTop returns an absolute link target relative to the first of tops
// it lies under, as written: "/srv/www/img" under "/srv/www" is "img".
func underTop(tops []string, target string) (string, bool) {
	for _, top := range tops {
		top = filepath.ToSlash(top)
		if target == top {
			return "", true
		}
		if rest, ok := strings.CutPrefix(target, strings.TrimSuffix(top, "/")+"/"); ok {
			return rest, true
		}
	}
	return "", false
}

// hasDotElement reports whether a slash path has an element starting with
// '.': a dot file or directory (the cleaned names this sees have no "."
// or ".." elements left, except "." for the root).
func hasDotElement(name string) bool {
	for elem := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(elem, ".") && elem != "." {
			return true
		}
	}
	return false
}

// serveFile serves the regular file rel (resolved: no links) as name, whose
// extension gives the content type, as the request's own name did in
// Apache.
func serveFile(w http.ResponseWriter, r *http.Request, root *os.Root, rel, name string) {
	file, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		fileError(w, r, err)
		return
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		fileError(w, r, err)
		return
	}
	if !info.Mode().IsRegular() { // replaced since resolve looked
		serveError(w, r, http.StatusNotFound, "no such file")
		return
	}
	if h := r.Header.Get("Range"); h != "" {
		if v := boundRange(h, info.Size()); v != h {
			r = r.Clone(r.Context())
			if v == "" {
				r.Header.Del("Range")
			} else {
				r.Header.Set("Range", v)
			}
		}
	}
	http.ServeContent(w, r, name, info.ModTime(), file)
}

// dirRedirect sends a client that named a directory without its trailing
// slash to the name with it. The Location is built from the cleaned name,
// never from the request's own path: it is a path beginning with exactly
// one '/', escaped, so no "//host" or "/\host" can make it a redirect to
// another site (browsers read both as a host).
func dirRedirect(w http.ResponseWriter, r *http.Request, name string) {
	if name != "/" {
		name += "/"
	}
	loc := (&url.URL{Path: name}).EscapedPath()
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusMovedPermanently)
}

// list writes the listing of the directory rel: what a request for each
// entry would be served, no dot file and no link that leads out of the
// root, to a dot file, or nowhere. Names are sorted; each is a relative
// link starting "./", so a name like "javascript:x" cannot become a
// scheme.
func list(w http.ResponseWriter, r *http.Request, root *os.Root, tops []string, rel string) {
	d, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		fileError(w, r, err)
		return
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		fileError(w, r, err)
		return
	}
	type item struct {
		name string
		dir  bool
	}
	items := make([]item, 0, len(entries))
	for _, e := range entries {
		it := item{name: e.Name(), dir: e.IsDir()}
		switch t := e.Type(); {
		case strings.HasPrefix(it.name, "."):
			continue
		case t&fs.ModeSymlink != 0:
			_, info, err := resolve(root, tops, path.Join(rel, it.name))
			if err != nil {
				continue
			}
			it.dir = info.IsDir()
		case !t.IsRegular() && !t.IsDir():
			continue
		}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	b.WriteString("<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n")
	for _, it := range items {
		href, text := "./"+url.PathEscape(it.name), it.name
		if it.dir {
			href, text = href+"/", text+"/"
		}
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>\n", html.EscapeString(href), html.EscapeString(text))
	}
	b.WriteString("</pre>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// fileError answers a failed lookup: a name that is not there (missing, a
// file used as a directory, a link loop, a link out of the root) is 404,
// one the server may not read 403, one too long for the file system 414,
// one the system refuses as invalid 400; only other errors, real I/O
// failures, are 500.
func fileError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, errOutsideRoot),
		errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ELOOP):
		serveError(w, r, http.StatusNotFound, "no such file")
	case errors.Is(err, fs.ErrPermission):
		serveError(w, r, http.StatusForbidden, "the file may not be read")
	case errors.Is(err, syscall.ENAMETOOLONG):
		serveError(w, r, http.StatusRequestURITooLong, "the name is too long")
	case errors.Is(err, syscall.EINVAL):
		serveError(w, r, http.StatusBadRequest, "the name is invalid")
	default:
		serveError(w, r, http.StatusInternalServerError, "the file could not be read")
	}
}

// Range requests are bounded before http.ServeContent sees them. A request
// may ask for at most maxRanges ranges (Apache's MaxRanges, default 200);
// ranges that overlap, or that would cost more as a multipart answer than
// the whole file, get the whole file with 200. After CVE-2011-3192 (one
// request for many overlapping ranges of a small file cost Apache a
// multipart answer many times the file's size) Apache 2.2.21 began merging
// overlapping ranges; serving the whole file is the simpler answer, and as
// safe (RFC 9110 §14.2 lets a server ignore Range). A header that is not a
// valid range set still gets ServeContent's 416. ServeContent only ever
// sees a Range header written here, never the client's: its own parser
// takes more than RFC 9110 does ("+5", "0 - 5") and counts no range that
// begins past the end, so a header it read differently could slip past
// these bounds.
const (
	// maxRanges is how many ranges a request may ask for.
	maxRanges = 200
	// partOverhead is a lower bound on what one part of a
	// multipart/byteranges answer adds to its bytes: the boundary line
	// (ServeContent's boundaries are 60 characters), Content-Range and the
	// blank line, before any Content-Type.
	partOverhead = 100
	// refusedRange is a Range header ServeContent always refuses with 416:
	// no range-spec at all.
	refusedRange = "bytes=-"
)

// byteRange is a satisfiable range: first <= last < size.
type byteRange struct{ first, last int64 }

// parseRangeHeader reads a Range header value as RFC 9110 §14.1.1's
// ranges-specifier with the unit bytes (written "bytes", as ServeContent
// wants it): a comma-separated list of first-last, first- and -suffix, with
// spaces or tabs around an element and empty elements skipped. count is the
// number of range-specs, satisfiable or not; ranges holds the satisfiable
// ones resolved against size, in the order given, but no more than
// maxRanges+1 of them. ok is false when h is no such list (another unit, no
// range-spec, a character other than digits and '-', last before first);
// numbers may have any number of digits.
func parseRangeHeader(h string, size int64) (count int, ranges []byteRange, ok bool) {
	set, found := strings.CutPrefix(h, "bytes=")
	if !found {
		return 0, nil, false
	}
	for elem := range strings.SplitSeq(set, ",") {
		elem = strings.Trim(elem, " \t")
		if elem == "" {
			continue
		}
		first, last, found := strings.Cut(elem, "-")
		if !found || first == "" && last == "" || !digits(first) || !digits(last) {
			return 0, nil, false
		}
		if first != "" && last != "" && compareDigits(last, first) < 0 {
			return 0, nil, false
		}
		count++
		var r byteRange
		switch {
		case first == "": // the last n bytes
			n := atoiSaturating(last)
			if n == 0 || size == 0 {
				continue
			}
			r = byteRange{first: max(size-n, 0), last: size - 1}
		default:
			r = byteRange{first: atoiSaturating(first), last: size - 1}
			if r.first >= size {
				continue
			}
			if last != "" {
				r.last = min(atoiSaturating(last), size-1)
			}
		}
		if len(ranges) <= maxRanges {
			ranges = append(ranges, r)
		}
	}
	return count, ranges, count > 0
}

// digits reports whether s is nothing but ASCII digits ("" is).
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareDigits compares two decimal numbers of any length.
func compareDigits(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// atoiSaturating is the value of a string of digits, or math.MaxInt64
// when that is larger.
func atoiSaturating(s string) int64 {
	const maxInt64 = 1<<63 - 1
	var n int64
	for i := 0; i < len(s); i++ {
		d := int64(s[i] - '0')
		if n > (maxInt64-d)/10 {
			return maxInt64
		}
		n = n*10 + d
	}
	return n
}

// overlapping reports whether two of the ranges share a byte.
func overlapping(ranges []byteRange) bool {
	sorted := slices.Clone(ranges)
	slices.SortFunc(sorted, func(a, b byteRange) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	for i := 1; i < len(sorted); i++ {
		if sorted[i].first <= sorted[i-1].last {
			return true
		}
	}
	return false
}

// boundRange returns the Range header to give ServeContent for a request
// with Range h for a file of size bytes: "" for the whole file,
// refusedRange for a 416, or the satisfiable ranges written out.
func boundRange(h string, size int64) string {
	count, ranges, ok := parseRangeHeader(h, size)
	switch {
	case !ok:
		return refusedRange
	case size == 0: // nothing to cut; ServeContent answers an empty file 200 too
		return ""
	case count > maxRanges:
		return ""
	case len(ranges) == 0: // ServeContent: 416, Content-Range: bytes */size
		return fmt.Sprintf("bytes=%d-", size)
	case len(ranges) > 1 && (overlapping(ranges) || dearerThanFile(ranges, size)):
		return ""
	}
	var b strings.Builder
	b.WriteString("bytes=")
	for i, r := range ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d-%d", r.first, r.last)
	}
	return b.String()
}

// dearerThanFile reports whether a multipart answer with these ranges
// would be larger than the whole file.
func dearerThanFile(ranges []byteRange, size int64) bool {
	cost := int64(len(ranges)) * partOverhead
	for _, r := range ranges {
		if cost > size || r.last-r.first+1 > size-cost {
			return true
		}
		cost += r.last - r.first + 1
	}
	return cost > size
}
