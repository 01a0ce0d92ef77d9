package config

import (
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ExpandImportJK, when set, replaces the built-in mod_jk loader
// (ParseOptions.LoadJK) for import_jk: it loads the files site.ImportJK
// names into site.Balancers (and site.FileServer, for the paths JkUnMount
// leaves to Apache's DocumentRoot). Paths in site.ImportJK are already
// resolved relative to the Caddyfile that names them. An error that is not
// an *Error is reported at the import_jk directive. Balancers it adds are
// validated like reverse_proxy blocks; start them from DefaultBalancer.
// It is nil unless a test or an embedding program sets it.
//
// Parse calls it once per site with import_jk, after the site's own
// directives, from the goroutine that called Parse. Set it before any
// parse runs, never while one may run.
var ExpandImportJK func(site *Site) error

// expandJK loads the site's import_jk files (with ExpandImportJK if set,
// else LoadJK with the parse's file system and environment), appends the
// balancers after the site's proxies reverse_proxy blocks and validates
// them.
func (b *builder) expandJK(s *Site, proxies int) error {
	if ExpandImportJK != nil {
		if err := ExpandImportJK(s); err != nil {
			if ce, ok := errors.AsType[*Error](err); ok {
				return ce
			}
			return errorf(s.ImportJK.Pos, "import_jk: %w", err)
		}
	} else {
		imp, err := b.opts.LoadJK(*s.ImportJK)
		if err != nil {
			if ce, ok := errors.AsType[*Error](err); ok {
				return ce
			}
			return errorf(s.ImportJK.Pos, "import_jk: %w", err)
		}
		s.Balancers = append(s.Balancers, imp.Balancers...)
		// Another site may have imported the same files: warn once.
		for _, w := range imp.Warnings {
			if !slices.Contains(b.cfg.Warnings, w) {
				b.cfg.Warnings = append(b.cfg.Warnings, w)
			}
		}
		if imp.FileServer != nil {
			switch {
			case s.FileServer == nil:
				s.FileServer = imp.FileServer
			case s.FileServer.Root != "" && s.FileServer.Root != imp.FileServer.Root:
				b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: s.FileServer.Pos,
					Msg: "file_server sets root " + strconv.Quote(s.FileServer.Root) + ", so import_jk's doc_root " + strconv.Quote(imp.FileServer.Root) + " is not used"})
			}
		}
	}
	if len(s.Balancers) < proxies {
		return errorAt(s.ImportJK.Pos, "import_jk: the loader removed reverse_proxy balancers")
	}
	for _, bal := range s.Balancers[proxies:] {
		if bal == nil {
			return errorAt(s.ImportJK.Pos, "import_jk: the loader added a nil balancer")
		}
		if bal.Pos == (Pos{}) {
			bal.Pos = s.ImportJK.Pos
		}
		if err := b.checkBalancer(bal, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// importJK parses
//
//	import_jk [WORKERS [URIWORKERS]] [{
//		doc_root DIR
//		mount PATTERN WORKER        # httpd's JkMount
//		unmount PATTERN WORKER      # httpd's JkUnMount
//		mount_file URIWORKERS       # httpd's JkMountFile, without a workers file
//		worker_property KEY=VALUE   # httpd's JkWorkerProperty
//		apache_children N           # MaxRequestWorkers ÷ ThreadsPerChild (connection_pool_size)
//	}]
//
// Without WORKERS the block must mount something (mod_jk's defaults and
// the worker_property lines make the workers). The paths resolve
// relative to the file that names them, as import does.
func importJK(n *node) (*ImportJK, error) {
	if err := n.argc(0, 2); err != nil {
		return nil, err
	}
	rel := func(t token) (string, error) {
		p, err := nonEmpty(n, t)
		if err != nil || filepath.IsAbs(p) {
			return p, err
		}
		return filepath.Join(filepath.Dir(t.pos.File), p), nil
	}
	jk := &ImportJK{Pos: n.args[0].pos}
	var err error
	if n.nargs() >= 1 {
		if jk.Workers, err = rel(n.arg(0)); err != nil {
			return nil, err
		}
	}
	if n.nargs() == 2 {
		if jk.URIWorkers, err = rel(n.arg(1)); err != nil {
			return nil, err
		}
	}
	for _, s := range n.block {
		switch s.name() {
		case "doc_root":
			if err := s.simple(1); err != nil {
				return nil, err
			}
			if jk.DocRoot != "" {
				return nil, errorf(s.args[0].pos, "doc_root is set twice")
			}
			if jk.DocRoot, err = nonEmpty(s, s.arg(0)); err != nil {
				return nil, err
			}
		case "mount", "unmount":
			if err := s.simple(2); err != nil {
				return nil, err
			}
			m := JKMount{Pattern: s.arg(0).text, Worker: s.arg(1).text, Exclude: s.name() == "unmount", Pos: s.args[0].pos}
			if !strings.HasPrefix(m.Pattern, "/") {
				// httpd refuses it: "JkMount context should start with /".
				return nil, errorf(s.arg(0).pos, "%s: the path %q must start with / (httpd refuses it too)", s.name(), m.Pattern)
			}
			if m.Worker == "" {
				return nil, errorf(s.arg(1).pos, "%s: empty worker name", s.name())
			}
			jk.Mounts = append(jk.Mounts, m)
		case "mount_file":
			if err := s.simple(1); err != nil {
				return nil, err
			}
			if jk.URIWorkers != "" {
				return nil, errorf(s.args[0].pos, "mount_file: the uriworkermap file is already given")
			}
			if jk.URIWorkers, err = rel(s.arg(0)); err != nil {
				return nil, err
			}
		case "worker_property":
			if err := s.simple(1); err != nil {
				return nil, err
			}
			if !strings.Contains(s.arg(0).text, "=") {
				return nil, errorf(s.arg(0).pos, "worker_property: want KEY=VALUE, got %q", s.arg(0).text)
			}
			jk.Properties = append(jk.Properties, JKProperty{Line: s.arg(0).text, Pos: s.arg(0).pos})
		case "apache_children":
			if jk.ApacheChildren != 0 {
				return nil, errorf(s.args[0].pos, "apache_children is set twice")
			}
			if err := intOption(s, &jk.ApacheChildren, 1, 1<<16); err != nil {
				return nil, err
			}
		default:
			return nil, unknown(s, "import_jk option", []string{"doc_root", "mount", "unmount", "mount_file", "worker_property", "apache_children"}, nil, "")
		}
	}
	if jk.Workers == "" && jk.URIWorkers == "" && len(jk.Mounts) == 0 && len(jk.Properties) == 0 {
		return nil, errorf(n.args[0].pos, "import_jk: want a workers.properties, or mount lines in its block")
	}
	return jk, nil
}
