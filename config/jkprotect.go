package config

import "strconv"

// httpd's defaults for the event and worker MPMs: MaxRequestWorkers 400
// (ServerLimit 16 × ThreadsPerChild 25) and ThreadsPerChild 25, so up to
// 16 children.
const (
	httpdMaxRequestWorkers = 400
	httpdThreadsPerChild   = 25
)

// memberLimit maps mod_jk's caps on one worker's concurrent requests to
// the member's max_conns:
//   - busy_limit=N: mod_jk (1.2.41+) uses the member only while fewer than
//     N requests are busy on it, counted across Apache's children in the
//     shared memory: max_conns N.
//   - connection_pool_size=N: each Apache child holds at most N
//     connections to the member (one request each), so Apache as a whole
//     sends it at most N × children requests at once. Tether is one
//     process: max_conns N × children, children from import_jk's
//     apache_children, else httpd's defaults (16). A warning shows the
//     arithmetic, since the children are Apache's, not in the file.
//
// With both, the smaller wins.
func (l *jkLoader) memberLimit(w *jkWorker, jm *jkMember) error {
	busy, bp, err := l.intAttr(w, "busy_limit", 0, 1<<20)
	if err != nil {
		return err
	}
	pool, pp, err := l.intAttr(w, "connection_pool_size", 0, 1<<16)
	if err != nil {
		return err
	}
	limit := 0
	if bp != nil && busy > 0 {
		limit = busy
	}
	if pp != nil && pool > 0 {
		children, from := l.children, "import_jk's apache_children"
		if children == 0 {
			children = httpdMaxRequestWorkers / httpdThreadsPerChild
			from = "httpd's default MaxRequestWorkers " + strconv.Itoa(httpdMaxRequestWorkers) +
				" ÷ ThreadsPerChild " + strconv.Itoa(httpdThreadsPerChild) + "; set apache_children in import_jk to yours"
		}
		total := min(pool*children, 1<<20)
		msg := "%s=%d is per Apache child: with %d children (%s) mod_jk sends member %s at most %d×%d = %d requests at once; Tether is one process: max_conns %d"
		if limit > 0 && limit <= total {
			msg += ", but busy_limit=%d is lower and wins"
			l.warn(pp.pos, msg, pp.key, pool, children, from, jm.m.Name, pool, children, total, total, limit)
		} else {
			l.warn(pp.pos, msg, pp.key, pool, children, from, jm.m.Name, pool, children, total, total)
			limit = total
		}
	}
	jm.m.MaxConns = limit
	return nil
}
