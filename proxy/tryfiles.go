package proxy

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tether-proxy/tether/config"
)

// rootKey holds, in a request's context, the root a root directive with a
// matcher gave it (Caddy's root @m DIR): file_server and try_files use it
// instead of their block's.
type rootKey struct{}

// requestRoot is the root a root directive gave r, or "".
func requestRoot(r *http.Request) string {
	v, _ := r.Context().Value(rootKey{}).(string)
	return v
}

// rootHandler is a root directive with a matcher.
type rootHandler struct{ dir string }

func newRootHandler(dir string) rootHandler {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return rootHandler{dir: dir}
}

func (h rootHandler) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	p.run(w, r.WithContext(context.WithValue(r.Context(), rootKey{}, h.dir)), next)
}

// tryFiles is Caddy's try_files: it rewrites the request's path to the
// first candidate that exists under the root, as a file (a candidate
// ending in "/" as a directory), and goes on. Candidates are looked up
// through an os.Root, so none leads out of the root, links included; a
// name with a dot element is never chosen (file_server would hide it).
// "=STATUS" answers that error when it is reached; when nothing matches
// the path stays as it was.
type tryFiles struct {
	cfg  *config.TryFiles
	root string // absolute; "" when only a root with a matcher gives one
}

func newTryFiles(cfg *config.TryFiles) *tryFiles {
	root := cfg.Root
	if abs, err := filepath.Abs(root); err == nil && root != "" {
		root = abs
	}
	return &tryFiles{cfg: cfg, root: root}
}

func (t *tryFiles) serve(w http.ResponseWriter, r *http.Request, p *program, next int) {
	dir := t.root
	if v := requestRoot(r); v != "" {
		dir = v
	}
	if i, status := t.choose(r, dir); status != 0 {
		serveError(w, r, status, "no file matches try_files")
		return
	} else if i >= 0 {
		f := &t.cfg.Files[i]
		name := candidate(f, r)
		u := r.URL
		if f.Query != nil {
			u.RawQuery = expand(f.Query, r, "") // with the path as it was
		}
		u.Path, u.RawPath = name, ""
	}
	p.run(w, r, next)
}

// candidate is the cleaned path f names for r, with its trailing slash.
func candidate(f *config.TryFile, r *http.Request) string {
	raw := expand(&f.Path, r, "")
	name := path.Clean("/" + raw)
	if strings.HasSuffix(raw, "/") && name != "/" {
		name += "/"
	}
	return name
}

// choose returns the index of the candidate the policy picks (-1: none),
// or the status of an =STATUS reached first.
func (t *tryFiles) choose(r *http.Request, dir string) (int, int) {
	files := t.cfg.Files
	var root *os.Root
	if dir != "" {
		if top, err := filepath.EvalSymlinks(dir); err == nil {
			root, _ = os.OpenRoot(top)
		}
	}
	if root != nil {
		defer root.Close()
	}
	stat := func(f *config.TryFile) (fs.FileInfo, bool) {
		if root == nil {
			return nil, false
		}
		name := candidate(f, r)
		if hasDotElement(name) || strings.IndexByte(name, 0) >= 0 {
			return nil, false
		}
		rel := strings.TrimPrefix(name, "/")
		if rel == "" {
			rel = "."
		}
		info, err := root.Stat(filepath.FromSlash(strings.TrimSuffix(rel, "/")))
		if err != nil || !info.IsDir() && !info.Mode().IsRegular() {
			return nil, false
		}
		return info, info.IsDir() == strings.HasSuffix(name, "/")
	}
	best := -1
	var bestInfo fs.FileInfo
	for i := range files {
		f := &files[i]
		if f.Status != 0 {
			if t.cfg.Policy == "first_exist" || t.cfg.Policy == "first_exist_fallback" {
				return -1, f.Status
			}
			continue
		}
		switch t.cfg.Policy {
		case "first_exist_fallback":
			if i == len(files)-1 {
				return i, 0
			}
			fallthrough
		case "first_exist":
			if _, ok := stat(f); ok {
				return i, 0
			}
		default:
			info, ok := stat(f)
			if !ok {
				continue
			}
			if best < 0 || better(t.cfg.Policy, info, bestInfo) {
				best, bestInfo = i, info
			}
		}
	}
	return best, 0
}

// better reports whether a beats b under policy.
func better(policy string, a, b fs.FileInfo) bool {
	switch policy {
	case "largest_size":
		return a.Size() > b.Size()
	case "smallest_size":
		return a.Size() < b.Size()
	}
	return a.ModTime().After(b.ModTime()) // most_recently_modified
}
