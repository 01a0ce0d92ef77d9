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
	if abs, err := filepath.Abs(root); err == nil {
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
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Clean("/" + stripPathParams(r.URL.Path))
	if strings.IndexByte(name, 0) >= 0 {
		// No file has a NUL in its name; os calls would say EINVAL.
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if hasDotElement(name) {
		http.NotFound(w, r)
		return
	}
	top, err := filepath.EvalSymlinks(f.root)
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
	tops := []string{top, f.root}
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
	http.NotFound(w, r)
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
		http.NotFound(w, r)
		return
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
		http.NotFound(w, r)
	case errors.Is(err, fs.ErrPermission):
		http.Error(w, "forbidden", http.StatusForbidden)
	case errors.Is(err, syscall.ENAMETOOLONG):
		http.Error(w, "name too long", http.StatusRequestURITooLong)
	case errors.Is(err, syscall.EINVAL):
		http.Error(w, "bad request", http.StatusBadRequest)
	default:
		http.Error(w, "internal server error", http.StatusInternalServerError)
	}
}
