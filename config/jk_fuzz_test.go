package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzWorkersProperties feeds arbitrary workers.properties and
// uriworkermap.properties to import_jk. It never panics; every error is an
// *Error positioned in one of the files (or the Caddyfile); every warning
// names a file and line; and when the import succeeds, the Caddyfile that
// import-jk prints parses to the same balancers.
func FuzzWorkersProperties(f *testing.F) {
	lab, _ := os.ReadFile("testdata/jk/lab.workers.properties")
	labURI, _ := os.ReadFile("testdata/jk/lab.uriworkermap.properties")
	f.Add(string(lab), string(labURI))
	f.Add(jkRich, "/app/*=lb\n*.jsp=lb\n!/app/static/*=lb\n/app/admin/*=solo\n")
	f.Add(jkBase+"worker.a.route=d.r\nworker.a.redirect=b\n", "/app|/*=lb;stateless\n-/x=lb\n!/*.gif=*\n")
	f.Add(jkTwo, "/x/y/*=lb\n*.jsp=lb\n/x/*=solo\n/a?c=other\n")
	f.Add("worker.list=a\nworker.a.reference=worker.a\n", "")
	f.Add("v=$(v)$(v)\nworker.list=$(v)\n", "/=$(v)\n")
	f.Add(jkBase+"worker.a.busy_limit=4\nworker.b.connection_pool_size=25\nworker.b.busy_limit=900\n", "/app/*=lb\n")
	f.Fuzz(func(t *testing.T, workers, uri string) {
		files := map[string]string{"w.properties": workers, "u.properties": uri}
		opts := ParseOptions{
			LookupEnv: func(string) (string, bool) { return "", false },
			ReadFile: func(name string) ([]byte, error) {
				if s, ok := files[name]; ok {
					return []byte(s), nil
				}
				return nil, os.ErrNotExist
			},
		}
		src := "a.com {\n\timport_jk w.properties u.properties {\n\t\tdoc_root /srv\n\t}\n}\n"
		cfg, err := opts.Parse("Caddyfile", []byte(src))
		if err != nil {
			ce, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("error %v is a %T, not an *Error", err, err)
			}
			if _, known := files[ce.Pos.File]; (!known && ce.Pos.File != "Caddyfile") || ce.Pos.Line < 1 || ce.Pos.Col < 1 {
				t.Fatalf("error %v has no position in the files", err)
			}
			return
		}
		for _, w := range cfg.Warnings {
			if _, known := files[w.Pos.File]; !known || w.Pos.Line < 1 || w.Pos.Col < 1 {
				t.Fatalf("warning %v has no position in the files", w)
			}
		}
		out, err := SiteCaddyfile(&cfg.Sites[0])
		if err != nil {
			if strings.Contains(err.Error(), "cannot be written") {
				return
			}
			t.Fatal(err)
		}
		printed, err := Parse("printed", out)
		if err != nil {
			t.Fatalf("printed Caddyfile does not parse: %v\n%s", err, out)
		}
		if got, want := dump(noPos(printed.Sites[0])), dump(noPos(cfg.Sites[0])); got != want {
			t.Fatalf("printed Caddyfile:\n%s\nparses to %s\nwant %s", out, got, want)
		}
	})
}
