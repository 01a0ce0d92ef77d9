package proxy

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/tether-proxy/tether/config"
)

// fileServer serves a site's static files: what Apache's DocumentRoot
// served for paths no JkMount covered. Content types, ranges and
// conditional requests come from http.ServeContent; directories serve their
// index file, and list their contents only with browse on. Dot files
// (.htaccess, .git) are never served.
type fileServer struct {
	root   http.Dir
	index  []string
	browse http.Handler // nil unless browse is on
}

func newFileServer(cfg *config.FileServer) *fileServer {
	f := &fileServer{root: http.Dir(cfg.Root), index: cfg.Index}
	if len(f.index) == 0 {
		f.index = []string{"index.html", "index.htm"}
	}
	if cfg.Browse {
		f.browse = http.FileServer(f.root)
	}
	return f
}

func (f *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Clean("/" + stripPathParams(r.URL.Path))
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			http.NotFound(w, r)
			return
		}
	}
	file, err := f.root.Open(name)
	if err != nil {
		f.openError(w, r, err)
		return
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		f.openError(w, r, err)
		return
	}
	if info.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			target := r.URL.Path + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		for _, idx := range f.index {
			ifile, err := f.root.Open(path.Join(name, idx))
			if err != nil {
				continue
			}
			defer ifile.Close()
			if iinfo, err := ifile.Stat(); err == nil && !iinfo.IsDir() {
				http.ServeContent(w, r, iinfo.Name(), iinfo.ModTime(), ifile)
				return
			}
		}
		if f.browse != nil {
			f.browse.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, info.Name(), info.ModTime(), file)
}

func (f *fileServer) openError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.NotFound(w, r)
	case errors.Is(err, fs.ErrPermission):
		http.Error(w, "forbidden", http.StatusForbidden)
	default:
		http.Error(w, "internal server error", http.StatusInternalServerError)
	}
}
