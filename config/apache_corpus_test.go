package config

import (
	"bufio"
	"cmp"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestApacheCorpus imports real Apache httpd configurations with mod_jk or
// mod_proxy from public repositories (testdata/apache/corpus, one
// directory each, with repository, path and commit in SOURCES.tsv and the
// paths httpd would read them at in its MANIFEST), and checks each site's
// routing decisions against httpd's own rules: mod_jk's URI map
// (uri_worker_map: rules sorted by '/' count, length and source, '*' and
// '?' wildcards, JkUnMount exclusions) and mod_proxy's ProxyPass (first
// match in order, by whole path segments), reimplemented here from their
// sources, for paths made from every rule. Every decision that differs
// must be one a warning names (the rule's line, or its worker); the outcome
// of each configuration is compared with corpus.golden (-update rewrites
// it).
func TestApacheCorpus(t *testing.T) {
	dirs, err := filepath.Glob("testdata/apache/corpus/*/MANIFEST")
	if err != nil || len(dirs) < 15 {
		t.Fatalf("corpus: %d configurations, %v; want at least 15", len(dirs), err)
	}
	var out strings.Builder
	for _, m := range dirs {
		dir := filepath.Dir(m)
		name := filepath.Base(dir)
		res := apacheCorpusCase(t, dir)
		out.WriteString(name + ": " + res + "\n")
	}
	golden(t, "testdata/apache/corpus.golden", out.String())
}

// apacheCorpusCase imports one configuration and returns its outcome.
func apacheCorpusCase(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := memFS{}
	env := map[string]string{}
	var main, root, expectErr string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "main":
			main = fields[1]
		case "root":
			root = fields[1]
		case "file":
			b, err := os.ReadFile(filepath.Join(dir, fields[2]))
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Clean(fields[1])] = string(b)
		case "env":
			env[fields[1]] = strings.Join(fields[2:], " ")
		case "error":
			expectErr = strings.Join(fields[1:], " ")
		}
	}
	o := files.opts()
	o.LookupEnv = func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	// On Linux "C:/Apache24/..." is a relative path, which a relative
	// path joins to; the corpus's Windows configurations are read at
	// their last drive-letter path.
	read := o.ReadFile
	drive := regexp.MustCompile(`[A-Za-z]:/`)
	o.ReadFile = func(name string) ([]byte, error) {
		if locs := drive.FindAllStringIndex(name, -1); len(locs) > 0 {
			name = name[locs[len(locs)-1][0]:]
		}
		return read(name)
	}
	ia := ImportApache{File: main, ServerRoot: root}
	imp, err := o.ApacheCaddyfile(ia)
	var cfg *Config
	if err == nil {
		src := "{\n\timport_apache " + quoteToken(main)
		if root != "" {
			src += " {\n\t\tserver_root " + quoteToken(root) + "\n\t}"
		}
		cfg, err = o.Parse("Caddyfile", []byte(src+"\n}\n"))
	}
	if err != nil {
		if expectErr == "" || !strings.Contains(err.Error(), expectErr) {
			t.Errorf("%s: %v", dir, err)
		}
		return "error (httpd refuses it too): " + strings.ReplaceAll(err.Error(), filepath.Clean(dir)+"/", "")
	}
	if expectErr != "" {
		t.Errorf("%s: imported; want an error like httpd's (%s)", dir, expectErr)
	}
	if len(imp.sites) != len(cfg.Sites) {
		t.Fatalf("%s: %d site records for %d sites", dir, len(imp.sites), len(cfg.Sites))
	}
	paths, same, differ := 0, 0, 0
	var notes []string
	for i, rec := range imp.sites {
		oracle := newApacheOracle(t, o, rec)
		for _, p := range oracle.paths() {
			want, rule := oracle.route(p)
			got := tetherRoute(&cfg.Sites[i], p)
			paths++
			if want == got {
				same++
				continue
			}
			differ++
			why := justified(cfg.Warnings, rule, want)
			if why == "" {
				t.Errorf("%s: site %s path %s: httpd routes it to %s, Tether to %s, and no warning says so (rule %+v)", dir, rec.addrs[0], p, want, got, rule)
				why = "UNEXPLAINED"
			}
			notes = append(notes, fmt.Sprintf("%s %s→%s (%s)", p, want, got, why))
		}
	}
	slices.Sort(notes)
	notes = slices.Compact(notes)
	res := fmt.Sprintf("%d sites, %d warnings; %d paths, %d routed as httpd routes them", len(cfg.Sites), len(cfg.Warnings), paths, same)
	if differ > 0 {
		res += fmt.Sprintf(", %d differ, each warned: %s", differ, strings.Join(notes, "; "))
	}
	return res
}

// justified returns the warning that explains a decision that differs
// from httpd's: one at the rule's line, or one about its worker.
func justified(ws []Warning, rule *oracleRule, worker string) string {
	for _, w := range ws {
		if rule != nil && w.Pos.File == rule.pos.File && w.Pos.Line == rule.pos.Line {
			return "warned at " + filepath.Base(w.Pos.File) + fmt.Sprintf(":%d", w.Pos.Line)
		}
	}
	for _, w := range ws {
		if worker != "" && (strings.Contains(w.Msg, "worker "+worker+" ") || strings.Contains(w.Msg, "worker."+worker+".")) {
			return "warned: " + strings.SplitN(w.Msg, ":", 2)[0]
		}
	}
	return ""
}

// oracleRule is one rule as httpd holds it: a mod_jk mapping or a
// ProxyPass.
type oracleRule struct {
	pattern string
	worker  string // mod_jk worker, or "proxy:NAME" ("proxy:!" for an exclusion)
	exclude bool
	source  int // 3 uriworkermap, 2 JkMount (mod_jk's SOURCE_TYPE_*)
	regexp  *regexp.Regexp
	pos     Pos
}

type apacheOracle struct {
	jk      []oracleRule // sorted as mod_jk sorts them
	proxies []oracleRule // in order
	docroot bool
}

// newApacheOracle builds httpd's rules for one site from the same inputs
// the import read.
func newApacheOracle(t *testing.T, o ParseOptions, rec apSiteRecord) *apacheOracle {
	a := &apacheOracle{docroot: rec.docRoot != ""}
	add := func(pattern, worker string, source int, at Pos) {
		alts := []string{pattern}
		if x, y, ok := strings.Cut(pattern, "|"); ok {
			alts = []string{x, x + y}
		}
		for _, p := range alts {
			r := oracleRule{worker: worker, source: source, pos: at}
			if strings.HasPrefix(p, "-") {
				continue
			}
			if rest, ok := strings.CutPrefix(p, "!"); ok {
				r.exclude, p = true, rest
			}
			if !strings.HasPrefix(p, "/") {
				continue // "invalid context"
			}
			r.pattern = p
			a.jk = append(a.jk, r)
		}
	}
	if rec.jkMountF != "" {
		src, err := o.ReadFile(rec.jkMountF)
		if err == nil {
			last := map[string]oracleRule{}
			var order []string
			for i, line := range strings.Split(string(src), "\n") {
				if j := strings.IndexByte(line, '#'); j >= 0 {
					line = line[:j]
				}
				k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
				k, v = strings.TrimSpace(k), strings.TrimSpace(v)
				if !ok || k == "" || v == "" {
					continue
				}
				v, _, _ = strings.Cut(v, ";")
				if _, seen := last[k]; !seen {
					order = append(order, k)
				}
				last[k] = oracleRule{worker: strings.TrimSpace(v), pos: Pos{File: rec.jkMountF, Line: i + 1, Col: 1}}
			}
			for _, k := range order {
				add(k, last[k].worker, 3, last[k].pos)
			}
		}
	}
	keys := map[string]int{}
	var ms []JKMount
	for _, m := range rec.jkMounts {
		k := apJKKey(m)
		if i, ok := keys[k]; ok {
			ms[i].Worker = m.Worker
			continue
		}
		keys[k] = len(ms)
		ms = append(ms, m)
	}
	for _, m := range ms {
		add(apJKKey(m), m.Worker, 2, m.Pos)
	}
	slices.SortStableFunc(a.jk, func(x, y oracleRule) int {
		return cmp.Or(cmp.Compare(strings.Count(y.pattern, "/"), strings.Count(x.pattern, "/")),
			cmp.Compare(len(y.pattern), len(x.pattern)), cmp.Compare(y.source, x.source))
	})
	for _, p := range rec.proxies {
		r := oracleRule{pattern: p.path, pos: p.at}
		if p.regexp {
			r.regexp = regexp.MustCompile(p.path)
		}
		switch {
		case p.url == "!":
			r.worker = "proxy:!"
		default:
			u, err := url.Parse(p.url)
			if err != nil {
				continue
			}
			r.worker = "proxy:" + u.Hostname()
			if strings.EqualFold(u.Scheme, "balancer") {
				r.worker = "proxy:" + u.Host
			}
		}
		a.proxies = append(a.proxies, r)
	}
	return a
}

// paths returns request paths made from every rule: the exact pattern, its
// wildcards filled in a few ways, and paths just beside it.
func (a *apacheOracle) paths() []string {
	set := map[string]bool{"/": true, "/index.html": true, "/nothing/here.jsp": true}
	fill := func(p string) {
		for _, f := range []string{"x", "x/y.jsp", "a.gif", ""} {
			q := strings.ReplaceAll(p, "?", "a")
			q = strings.ReplaceAll(q, "*", f)
			if strings.HasPrefix(q, "/") {
				set[q] = true
			}
		}
	}
	for _, r := range a.jk {
		fill(r.pattern)
		fill(r.pattern + "x")
		fill(strings.TrimRight(r.pattern, "*") + "/deeper/page.jsp")
	}
	for _, r := range a.proxies {
		if r.regexp != nil {
			continue
		}
		for _, s := range []string{"", "/", "/x", "x", "/a/b.jsp"} {
			fill(r.pattern + s)
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for k := range set {
			if !yield(k) {
				return
			}
		}
	})
}

// route is httpd's decision for path: mod_proxy's ProxyPass (translate
// name, first), then mod_jk's map, then the DocumentRoot.
func (a *apacheOracle) route(path string) (string, *oracleRule) {
	for i, r := range a.proxies {
		if r.regexp != nil && r.regexp.MatchString(path) || r.regexp == nil && aliasMatch(path, r.pattern) {
			if r.worker == "proxy:!" {
				break
			}
			return r.worker, &a.proxies[i]
		}
	}
	for i, r := range a.jk {
		if r.exclude || !jkWildMatch(path, r.pattern) {
			continue
		}
		for _, x := range a.jk {
			if x.exclude && (x.worker == r.worker || x.worker == "*") && jkWildMatch(path, x.pattern) {
				return "docroot", &a.jk[i]
			}
		}
		return "jk:" + r.worker, &a.jk[i]
	}
	return "docroot", nil
}

// jkWildMatch is mod_jk's match of a rule: an exact path, or '*' any bytes
// and '?' one byte (jk_wildchar_match).
func jkWildMatch(path, pattern string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return path == pattern
	}
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(path)
}

// aliasMatch is mod_proxy's alias_match: the prefix matches whole path
// segments ("/app" matches /app and /app/x, not /apple).
func aliasMatch(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	if strings.HasSuffix(prefix, "/") || len(path) == len(prefix) {
		return true
	}
	return path[len(prefix)] == '/'
}

// tetherRoute is Tether's decision for path in site s, as the proxy makes
// it: the site's routes in order (route blocks of redirects and rewrites
// are not followed: the oracle has no mod_rewrite or mod_alias either).
func tetherRoute(s *Site, path string) string {
	match := func(pats, excl []string) bool {
		for _, e := range excl {
			if jkOverlap(e, path) {
				return false
			}
		}
		if len(pats) == 0 {
			return true
		}
		return slices.ContainsFunc(pats, func(p string) bool { return jkOverlap(p, path) })
	}
	base := func(name string) string {
		if i := strings.LastIndexByte(name, '-'); i > 0 && strings.Trim(name[i+1:], "0123456789") == "" {
			return name[:i]
		}
		return name
	}
	for _, r := range s.Routes {
		switch r.Directive {
		case "reverse_proxy":
			if b := r.Balancers[0]; match(b.Paths, b.Excludes) {
				return "proxy:" + base(b.Name)
			}
		case "handle":
			m := r.Match
			if m == nil || len(m.Paths) > 0 && !match(m.Paths, nil) || len(m.PathRegexps) > 0 && !m.PathRegexps[0].Re.MatchString(path) {
				continue
			}
			if slices.ContainsFunc(m.Not, func(n *Matcher) bool { return match(n.Paths, nil) && len(n.Paths) > 0 }) {
				continue
			}
			for _, in := range r.Routes {
				if in.Directive == "reverse_proxy" {
					return "proxy:" + base(in.Balancers[0].Name)
				}
			}
		case "import_jk":
			for _, b := range r.Balancers {
				if match(b.Paths, b.Excludes) {
					return "jk:" + b.Name
				}
			}
		case "file_server":
			return "docroot"
		}
	}
	return "docroot"
}
