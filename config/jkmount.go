package config

import (
	"cmp"
	"slices"
	"strings"
)

// jkRule is one URI mapping rule: a uriworkermap.properties line (JkMount,
// JkUnMount) or one pattern of a worker's mount attribute.
type jkRule struct {
	pattern string // as mod_jk matches it: no '!' or '-' prefix, "X|Y" expanded
	worker  string
	exclude bool
	pos     Pos
	source  int // 0 uriworkermap, 1 JkMount, 2 a mount attribute (mod_jk ranks them in this order)
	seq     int // file order
}

// rules reads the uriworkermap file (ufile "" for none) and the mount
// attributes of the workers in worker.list.
func (l *jkLoader) rules(ufile string, usrc []byte) ([]jkRule, error) {
	var rules []jkRule
	var firstErr error
	// add follows mod_jk's uri_worker_map_load and uri_worker_map_add:
	// "X|Y" is the two rules X and XY; each may start with '-' (disabled:
	// no effect) and then '!' (an exclusion); what is left must start
	// with '/', else mod_jk logs "invalid context" and skips the rule.
	add := func(pattern, worker string, at Pos, source int) {
		if firstErr != nil {
			return
		}
		alts := []string{pattern}
		if x, y, ok := strings.Cut(pattern, "|"); ok {
			alts = []string{x, x + y}
		}
		for _, p := range alts {
			r := jkRule{worker: worker, pos: at, source: source}
			if strings.HasPrefix(p, "-") {
				continue // a disabled rule: no effect, as in mod_jk
			}
			if rest, ok := strings.CutPrefix(p, "!"); ok {
				r.exclude, p = true, rest
			}
			switch {
			case !strings.HasPrefix(p, "/"):
				l.warn(at, "rule %s=%s: the pattern does not start with /: mod_jk 1.2.48 skips the rule (\"invalid context '%s': does not begin with '/'\"), so does Tether", pattern, worker, p)
				continue
			case worker == "":
				l.warn(at, "rule %s maps no worker; skipped", pattern)
				continue
			case worker == "*" && !r.exclude:
				l.warn(at, "rule %s=*: the worker * only means \"every worker\" in an exclusion (!%s=*); mod_jk finds no worker named * for it, so the rule maps nothing; skipped", pattern, p)
				continue
			}
			r.pattern = p
			r.seq = len(rules)
			rules = append(rules, r)
		}
	}
	if ufile != "" {
		// mod_jk reads the file as a property map: a repeated pattern
		// keeps its last worker (with a warning), $(name) is substituted.
		up, err := parseJKProps(ufile, usrc, l.lookupEnv, jkURIMapFile)
		if err != nil {
			return nil, err
		}
		for _, w := range up.warns {
			l.warn(w.Pos, "%s", w.Msg)
		}
		for _, key := range up.order {
			p := up.props[key]
			worker, exts, _ := strings.Cut(p.value, ";")
			worker = strings.TrimSpace(worker)
			if exts != "" {
				for ext := range strings.SplitSeq(exts, ";") {
					if ext = strings.TrimSpace(ext); ext != "" {
						name, _, _ := strings.Cut(ext, "=")
						l.warn(p.valPos, "rule %s: extension %s is not supported; the rule is imported without it", key, name)
					}
				}
			}
			add(key, worker, p.pos, 0)
		}
	}
	// httpd's JkMount and JkUnMount: a map by path in mod_jk (the last
	// line for a path wins); JkUnMount is the path with a '!'.
	last := map[string]int{}
	for i, m := range l.mounts {
		key := m.Pattern
		if m.Exclude {
			key = "!" + key
		}
		last[key] = i
	}
	for i, m := range l.mounts {
		key := m.Pattern
		if m.Exclude {
			key = "!" + key
		}
		if last[key] != i {
			continue
		}
		add(key, m.Worker, m.Pos, 1)
	}
	for _, it := range l.list {
		w := l.workers[it.text]
		if w == nil || w.attrs["mount"] == nil {
			continue
		}
		w.used["mount"] = true
		for _, m := range splitLists(w.lists["mount"], w.attrs["mount"]) {
			add(m.text, w.name, m.pos, 2)
		}
	}
	return rules, firstErr
}

// jkRank orders mount rules as mod_jk does: more '/' first, then longer
// patterns, then uriworkermap before mount attributes, then file order.
func jkRank(a, b jkRule) int {
	return cmp.Or(
		cmp.Compare(strings.Count(b.pattern, "/"), strings.Count(a.pattern, "/")),
		cmp.Compare(len(b.pattern), len(a.pattern)),
		cmp.Compare(a.source, b.source),
		cmp.Compare(a.seq, b.seq),
	)
}

// jkInclude is a mount pattern of a balancer and its mod_jk rank (lower
// wins).
type jkInclude struct {
	tp   string // Tether pattern
	rank int
	rule jkRule
}

// mount builds the balancers of the mounted workers, most specific first,
// with their Paths and Excludes.
func (l *jkLoader) mount(rules []jkRule, haveURIMap bool) ([]*Balancer, error) {
	var incRules, excRules []jkRule
	for _, r := range rules {
		if r.exclude {
			excRules = append(excRules, r)
		} else {
			incRules = append(incRules, r)
		}
	}
	slices.SortStableFunc(incRules, jkRank)

	var order []string // mounted workers, by their best rule
	incs := map[string][]jkInclude{}
	for rank, r := range incRules {
		if !l.listed(r.worker) {
			l.warn(r.pos, "rule %s=%s: worker %s is not in worker.list; rule skipped (mod_jk cannot use it either)", r.pattern, r.worker, r.worker)
			continue
		}
		w := l.worker(r.worker, r.pos)
		if w.typ() == "status" {
			l.status(w)
			l.warn(r.pos, "rule %s=%s mounts a status worker; not imported (use Tether's admin API)", r.pattern, r.worker)
			continue
		}
		tp, note := jkPattern(r.pattern)
		if note != "" {
			l.warn(r.pos, "rule %s=%s: %s", r.pattern, r.worker, note)
		}
		if slices.ContainsFunc(incs[r.worker], func(in jkInclude) bool { return in.tp == tp }) {
			continue
		}
		if incs[r.worker] == nil {
			order = append(order, r.worker)
		}
		incs[r.worker] = append(incs[r.worker], jkInclude{tp: tp, rank: rank, rule: r})
	}

	if len(rules) == 0 && !haveURIMap {
		// No uriworkermap and no mount attributes: the JkMount lines are in
		// httpd.conf, which Tether does not read. Mount every listed worker
		// on every path; only the first can receive requests.
		for _, it := range l.list {
			w := l.worker(it.text, it.pos)
			if w.typ() == "status" {
				l.status(w)
				continue
			}
			if len(order) == 1 {
				l.warn(it.pos, "worker.list names several workers but nothing mounts them (no uriworkermap file, no mount attribute); %s gets every path and %s none: put your JkMount lines in a uriworkermap.properties", order[0], it.text)
			}
			order = append(order, it.text)
		}
	} else {
		for _, it := range l.list {
			if incs[it.text] != nil {
				continue
			}
			if w := l.workers[it.text]; w != nil && w.typ() == "status" {
				l.status(w)
				continue
			}
			if !slices.ContainsFunc(excRules, func(r jkRule) bool { return r.worker == it.text }) {
				l.warn(it.pos, "worker %s is in worker.list but no rule mounts it; not imported", it.text)
			}
		}
	}

	var bals []*Balancer
	byName := map[string]*Balancer{}
	kept := order[:0:0]
	for _, name := range order {
		w := l.worker(name, Pos{})
		var bal *Balancer
		var err error
		switch t := w.typ(); t {
		case "lb":
			bal, err = l.lbBalancer(w)
		case "ajp13", "ajp14", "ajp12":
			bal, err = l.directBalancer(w)
		default:
			at := w.pos
			if p := w.attrs["type"]; p != nil {
				at = p.valPos
			}
			err = errorf(at, "worker %s: type %s is not supported (want ajp13, lb or status; mod_jk 1.2.48 also has ajp12 and ajp14)", name, t)
		}
		if err != nil {
			return nil, err
		}
		if bal == nil {
			continue // not routable (ajp12), warned about
		}
		for _, in := range incs[name] {
			bal.Paths = append(bal.Paths, in.tp)
		}
		bals = append(bals, bal)
		byName[name] = bal
		kept = append(kept, name)
	}
	order = kept

	// Exclusions (JkUnMount, !pattern): for their worker, or * for all.
	for _, r := range excRules {
		var targets []string
		switch {
		case r.worker == "*":
			targets = order
		case byName[r.worker] != nil:
			targets = []string{r.worker}
		default:
			if w := l.workers[r.worker]; w != nil && w.typ() == "status" {
				continue
			}
			l.warn(r.pos, "exclusion !%s=%s excludes nothing: worker %s is not mounted", r.pattern, r.worker, r.worker)
			continue
		}
		for _, name := range targets {
			tp, note := jkExcludePattern(r.pattern, incs[name])
			if note != "" {
				l.warn(r.pos, "exclusion !%s=%s: %s", r.pattern, r.worker, note)
			}
			if bal := byName[name]; !slices.Contains(bal.Excludes, tp) {
				bal.Excludes = append(bal.Excludes, tp)
			}
		}
	}

	l.fixOrder(bals, order, incs, excRules)
	return bals, nil
}

// fixOrder makes Tether's first-matching-balancer choice agree with
// mod_jk's most-specific-rule choice. A path that matches a pattern Q of a
// later balancer j that mod_jk ranks above the earlier balancer i's
// matching pattern P belongs to j: Q becomes an exclusion of i when no
// pattern of i that overlaps Q ranks above Q; otherwise the order cannot
// be expressed and a warning says so.
func (l *jkLoader) fixOrder(bals []*Balancer, order []string, incs map[string][]jkInclude, excRules []jkRule) {
	for i := range bals {
		for j := i + 1; j < len(bals); j++ {
			for _, q := range incs[order[j]] {
				var beaten *jkInclude
				shadowed := false
				for k, p := range incs[order[i]] {
					if !jkOverlap(p.tp, q.tp) {
						continue
					}
					if q.rank < p.rank && beaten == nil {
						beaten = &incs[order[i]][k]
					}
					if p.rank < q.rank {
						shadowed = true
					}
				}
				switch {
				case beaten == nil:
				case !shadowed:
					if !slices.Contains(bals[i].Excludes, q.tp) {
						bals[i].Excludes = append(bals[i].Excludes, q.tp)
					}
				default:
					l.warn(q.rule.pos, "rule %s=%s: some paths it shares with %s=%s go to %s, where mod_jk's rule order would send them to %s; Tether cannot express this order", q.rule.pattern, q.rule.worker, beaten.rule.pattern, beaten.rule.worker, order[i], order[j])
				}
			}
		}
	}
	// mod_jk does not try another worker for a path excluded from the one
	// its best rule names: Apache serves it. Tether tries later balancers.
	for _, r := range excRules {
		if r.worker == "*" || incs[r.worker] == nil {
			continue
		}
		e, _ := jkPattern(r.pattern)
		for _, other := range order {
			if other == r.worker {
				continue
			}
			for _, q := range incs[other] {
				if !jkOverlap(q.tp, e) {
					continue
				}
				if slices.ContainsFunc(incs[r.worker], func(p jkInclude) bool {
					return p.rank < q.rank && jkOverlap(p.tp, e) && jkOverlap(p.tp, q.tp)
				}) {
					l.warn(r.pos, "exclusion !%s=%s: paths it excludes that also match %s=%s go to %s; mod_jk would serve them from the document root", r.pattern, r.worker, q.rule.pattern, other, other)
				}
			}
		}
	}
}

// jkPattern turns a mod_jk pattern into a Tether one ("/exact", "/prefix*",
// "*suffix", "/*") and says how it differs, "" when it does not. '?' (one
// byte) becomes '*'; a pattern with text on both sides of its '*'s keeps
// the prefix (mounting more than mod_jk would).
func jkPattern(p string) (tp, note string) {
	q := strings.ReplaceAll(p, "?", "*")
	first := strings.IndexByte(q, '*')
	if first < 0 {
		return q, ""
	}
	last := strings.LastIndexByte(q, '*')
	pre, suf := q[:first], q[last+1:]
	switch {
	case pre == "" || pre == "/":
		tp = "*" + suf
		if suf == "" {
			tp = "/*"
		}
	case suf == "":
		tp = pre + "*"
	default:
		return pre + "*", "Tether patterns match a prefix or a suffix, not both; mounted as " + pre + "* (every path under " + pre + ")"
	}
	if q != p || first != last {
		return tp, "'?' and inner '*' are not supported; matched as " + tp + ", which matches more paths"
	}
	return tp, ""
}

// jkExcludePattern turns an exclusion pattern into a Tether one for a
// balancer mounted by incs. "/prefix/*.suffix" becomes "*.suffix", which
// excludes exactly the same paths when every mount of the balancer lies
// under /prefix/.
func jkExcludePattern(p string, incs []jkInclude) (tp, note string) {
	tp, note = jkPattern(p)
	q := strings.ReplaceAll(p, "?", "*")
	first, last := strings.IndexByte(q, '*'), strings.LastIndexByte(q, '*')
	if first < 0 {
		return tp, note
	}
	pre, suf := q[:first], q[last+1:]
	if pre == "" || pre == "/" || suf == "" {
		return tp, note
	}
	tp = "*" + suf
	within := len(incs) > 0 && !slices.ContainsFunc(incs, func(in jkInclude) bool {
		k, s := jkKind(in.tp)
		return (k != '=' && k != 'p') || !strings.HasPrefix(s, pre)
	})
	if within && first == last && q == p {
		return tp, ""
	}
	return tp, "Tether patterns match a prefix or a suffix, not both; excluded as " + tp + " (every path of this balancer ending in " + suf + ")"
}

// jkKind classifies a Tether pattern as the proxy matches it: '*' all,
// 'p' prefix, 's' suffix, '=' exact; s is the literal part.
func jkKind(p string) (kind byte, s string) {
	switch {
	case p == "*" || p == "/*":
		return '*', ""
	case strings.HasPrefix(p, "*"):
		return 's', p[1:]
	case strings.HasSuffix(p, "*"):
		return 'p', p[:len(p)-1]
	}
	return '=', p
}

// jkOverlap reports whether some path matches both Tether patterns.
func jkOverlap(a, b string) bool {
	ka, sa := jkKind(a)
	kb, sb := jkKind(b)
	if ka > kb {
		ka, kb, sa, sb = kb, ka, sb, sa
	}
	// Kinds sort as '*' < '=' < 'p' < 's'.
	switch {
	case ka == '*':
		return true
	case ka == '=' && kb == '=':
		return sa == sb
	case ka == '=' && kb == 'p':
		return strings.HasPrefix(sa, sb)
	case ka == '=' && kb == 's':
		return strings.HasSuffix(sa, sb)
	case ka == 'p' && kb == 'p':
		return strings.HasPrefix(sa, sb) || strings.HasPrefix(sb, sa)
	case ka == 's' && kb == 's':
		return strings.HasSuffix(sa, sb) || strings.HasSuffix(sb, sa)
	}
	return true // a prefix and a suffix: prefix + suffix matches both
}

// status records a status worker (jkstatus) once: it is not imported.
func (l *jkLoader) status(w *jkWorker) {
	if w.imported {
		return
	}
	w.imported = true
	for d := range w.attrs {
		w.used[d] = true
	}
	at := w.pos
	if p := w.attrs["type"]; p != nil {
		at = p.pos
	}
	l.warn(at, "worker %s is a status worker (jkstatus): not imported; use Tether's admin API instead (GET /api/status, tether status, tether set-state)", w.name)
}
