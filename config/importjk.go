package config

import "path/filepath"

// ExpandImportJK loads the mod_jk files an import_jk directive names into
// site.Balancers (and site.FileServer, for the paths JkUnMount leaves to
// Apache's DocumentRoot). It is set by the workers.properties loader; while
// it is nil, import_jk is an error. Paths in site.ImportJK are already
// resolved relative to the Caddyfile that names them. An error that is not
// an *Error is reported at the import_jk directive. Balancers it adds are
// validated like reverse_proxy blocks; start them from DefaultBalancer.
//
// Parse calls it once per site with import_jk, after the site's own
// directives, from the goroutine that called Parse. Set it once, from the
// loader's init function, never while a parse may run.
var ExpandImportJK func(site *Site) error

// importJK parses "import_jk WORKERS [URIWORKERS] [{ doc_root DIR }]".
// The paths resolve relative to the file that names them, as import does.
func importJK(n *node) (*ImportJK, error) {
	if err := n.argc(1, 2); err != nil {
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
	if jk.Workers, err = rel(n.arg(0)); err != nil {
		return nil, err
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
		default:
			return nil, unknown(s, "import_jk option", []string{"doc_root"}, nil, "")
		}
	}
	return jk, nil
}
