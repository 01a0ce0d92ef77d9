package proxy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/replication"
	"github.com/tether-proxy/tether/routing"
)

// This file is where the proxy meets the replicated session table
// (replication.Table, Options.Sessions): failover pins, learned stickiness,
// Tether's own affinity cookie, operators' member states and readiness.
//
// How a balancer finds a request's session, by sticky mode:
//
//   - jvmroute: the session id's route; a pin in the table (written when
//     the session failed over and its new member served it, see pins.go)
//     replaces that route, so the session stays on its new member after
//     the old one returns.
//   - learn COOKIE: the table's entry for the cookie's value (learned from
//     the backend's Set-Cookie) is the route.
//   - cookie NAME: the route in Tether's signed affinity cookie.
//
// In every mode the route then goes through routing.Table.Pick as a
// session's route does, so a lost member's sessions fail over by the same
// rendezvous hash on every proxy, and the choice is pinned (jvmroute,
// learn) or written back into the cookie (cookie).

// findSession fills st.req with the request's session, by sticky mode, and
// remembers the table key it was found under (st.key).
func (b *Balancer) findSession(r *http.Request, st *reqState) {
	switch b.cfg.Sticky.Mode {
	case "off":
	case "learn":
		sc := routing.NewCookieScanner(r.Header["Cookie"], b.names.Cookie)
		v, ok := sc.Next()
		if !ok || v == "" || b.tab == nil {
			return
		}
		st.key = v
		route, ok := b.tab.Get(b.name, v, st.start)
		if !ok && b.hasStore {
			route, ok = b.fetch(r.Context(), v, st.start)
		}
		if ok {
			st.req.Session = routing.SessionID{ID: v, Route: route}
			st.req.HasSession = true
			st.pinned = true
		}
	case "cookie":
		// Secure also for the first answer, which issues the cookie.
		st.secure = r.TLS != nil || st.trusted.contains(r.RemoteAddr) && r.Header.Get("X-Forwarded-Proto") == "https"
		sc := routing.NewCookieScanner(r.Header["Cookie"], b.names.Cookie)
		v, ok := sc.Next()
		if !ok {
			return
		}
		if nonce, route, ok := b.affinity.verify(b.name, v); ok {
			st.req.Session = routing.SessionID{ID: nonce, Route: route}
			st.req.HasSession = true
			st.key = nonce
		}
	default: // jvmroute
		st.req.Session, st.req.HasSession = st.set.table.FindSession(r.URL.Path, r.Header["Cookie"], b.names)
		if !st.req.HasSession || b.tab == nil || b.tab.Len() == 0 {
			return
		}
		key := st.req.Session.String()
		if route, ok := b.tab.Get(b.name, key, st.start); ok {
			st.key = key
			st.req.Session.Route = route
			st.pinned = true
		}
	}
}

// storeFetchTimeout bounds a request's wait on the shared session store;
// storeFetchers bounds the reads in flight per balancer, so clients sending
// invented cookie values cannot turn into unbounded store traffic (past it,
// an unknown session is balanced as new).
const (
	storeFetchTimeout = 500 * time.Millisecond
	storeFetchers     = 32
)

// fetch reads a session unknown here from the shared store (another
// cluster may have learned it).
func (b *Balancer) fetch(ctx context.Context, key string, now time.Time) (string, bool) {
	select {
	case b.fetchers <- struct{}{}:
	default:
		return "", false
	}
	defer func() { <-b.fetchers }()
	ctx, cancel := context.WithTimeout(ctx, storeFetchTimeout)
	defer cancel()
	route, ok, err := b.tab.Fetch(ctx, b.name, key, now)
	if err != nil {
		b.log.Debug().Err(err).Msg("session store read failed")
	}
	return route, ok
}

// recordSession runs on the member's response, before it is copied to the
// client: it pins a failed-over session to its new member when the pin can
// matter (jvmroute, see pins.go), learns sessions from Set-Cookie (learn)
// and issues the affinity cookie (cookie).
func (b *Balancer) recordSession(resp *http.Response, st *reqState) {
	member := st.set.members[st.dec.Index].name
	failedOver := st.dec.From != ""
	switch b.cfg.Sticky.Mode {
	case "learn":
		if b.tab == nil {
			return
		}
		if st.pinned {
			if failedOver {
				// The session moved (its state too, as far as we know):
				// pin it there, also if the member issues a new id.
				_, _ = b.tab.Set(b.name, st.key, member, st.start)
			} else {
				b.tab.Touch(b.name, st.key, st.start)
			}
		}
		if v, set, ok := setCookieValue(resp.Header["Set-Cookie"], b.names.Cookie); ok {
			if !set {
				// The session ended: the id the request carried, and
				// the one named, if any, route by balancing again.
				for _, k := range []string{st.key, v} {
					if k != "" {
						_, _ = b.tab.Delete(b.name, k, st.start)
					}
				}
			} else if _, err := b.tab.Set(b.name, v, member, st.start); err != nil {
				b.log.Debug().Err(err).Msg("session not learned")
			}
		}
	case "cookie":
		if st.req.HasSession && !failedOver && st.dec.Reason == routing.ReasonSticky {
			return // the cookie already names this member
		}
		if c := b.affinity.cookie(b.name, &b.cfg.Sticky, st.key, member, st.secure); c != "" {
			resp.Header.Add("Set-Cookie", c)
		}
	case "off":
	default: // jvmroute
		if b.tab == nil || !st.req.HasSession {
			return
		}
		if failedOver {
			b.pinFailover(resp, st, member)
			return
		}
		if st.pinned {
			b.tab.Touch(b.name, st.key, st.start)
		}
	}
}

// setCookieValue finds the cookie called name among Set-Cookie header
// values (ok): its value, and set false when the header deletes it (empty
// value, Max-Age zero or negative, or Expires in the past).
func setCookieValue(headers []string, name string) (value string, set, ok bool) {
	for _, h := range headers {
		nv, attrs, _ := strings.Cut(h, ";")
		n, v, found := strings.Cut(strings.TrimSpace(nv), "=")
		if !found || n != name {
			continue
		}
		v = strings.Trim(v, `"`)
		set = v != ""
		for a := range strings.SplitSeq(attrs, ";") {
			k, av, _ := strings.Cut(strings.TrimSpace(a), "=")
			switch strings.ToLower(k) {
			case "max-age":
				if strings.HasPrefix(av, "-") || strings.TrimLeft(av, "0") == "" {
					set = false
				}
			case "expires":
				if t, err := http.ParseTime(av); err == nil && t.Before(time.Now()) {
					set = false
				}
			}
		}
		value, ok = v, true
	}
	return value, set && value != "", ok
}

// affinity signs and checks Tether's own affinity cookies (sticky cookie
// NAME). The value is NONCE.ROUTE.MAC: a random nonce per client (so a lost
// member's clients spread over the others by rendezvous hash, as sessions
// do), the member's route, and an HMAC-SHA256 over balancer, nonce and
// route with the cluster secret, so every proxy of the cluster accepts what
// any other issued and a client cannot pick its member.
type affinity struct {
	key []byte
}

const macLen = 16 // bytes of HMAC kept: 128 bits

func (a *affinity) mac(balancer, nonce, route string) string {
	h := hmac.New(sha256.New, a.key)
	h.Write([]byte(balancer))
	h.Write([]byte{0})
	h.Write([]byte(nonce))
	h.Write([]byte{0})
	h.Write([]byte(route))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:macLen])
}

// verify checks a cookie value and returns its nonce and route.
func (a *affinity) verify(balancer, v string) (nonce, route string, ok bool) {
	if a == nil || len(v) > 256 {
		return "", "", false
	}
	i, j := strings.IndexByte(v, '.'), strings.LastIndexByte(v, '.')
	if i <= 0 || j <= i+1 {
		return "", "", false
	}
	nonce, route, sig := v[:i], v[i+1:j], v[j+1:]
	if !hmac.Equal([]byte(sig), []byte(a.mac(balancer, nonce, route))) {
		return "", "", false
	}
	return nonce, route, true
}

// cookie builds the Set-Cookie value pinning a client to route, keeping its
// nonce when it has one, with the attributes sc configures; https says the
// client came over HTTPS (Secure by default).
func (a *affinity) cookie(balancer string, sc *config.Sticky, nonce, route string, https bool) string {
	if a == nil {
		return ""
	}
	if nonce == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		nonce = base64.RawURLEncoding.EncodeToString(b[:])
	}
	c := http.Cookie{
		Name:     sc.Cookie,
		Value:    nonce + "." + route + "." + a.mac(balancer, nonce, route),
		Path:     "/",
		Domain:   sc.Domain,
		MaxAge:   int(sc.MaxAge / time.Second),
		HttpOnly: true,
		Secure:   sc.Secure == "on" || sc.Secure == "" && https,
		SameSite: http.SameSiteLaxMode,
	}
	switch sc.SameSite {
	case "strict":
		c.SameSite = http.SameSiteStrictMode
	case "none":
		c.SameSite, c.Secure = http.SameSiteNoneMode, true // browsers drop None without Secure
	}
	return c.String()
}

// newAffinity returns the signer for key, or a random per-process key when
// key is empty (cookies then do not survive a restart).
func newAffinity(key []byte) *affinity {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &affinity{key: key}
}

// runMemberStates applies the operators' replicated member states to the
// balancers whenever they change, until ctx ends.
func (s *Server) runMemberStates(ctx context.Context) {
	tab := s.opts.Sessions
	for {
		s.applyMemberStates()
		select {
		case <-ctx.Done():
			return
		case <-tab.MemberStatesChanged():
		}
	}
}

// applyMemberStates gives every member the state an operator set for it
// anywhere in the cluster (set-state wins over the config and over a
// backend agent's own state, until the next set-state).
func (s *Server) applyMemberStates() {
	tab := s.opts.Sessions
	if tab == nil {
		return
	}
	for _, ms := range tab.MemberStates() {
		b := s.Balancer(ms.Balancer)
		if b == nil {
			continue
		}
		st, err := parseState(ms.State)
		if err != nil {
			continue
		}
		if err := b.setStateIfDifferent(ms.Member, st); err != nil && !isNotFound(err) {
			b.log.Error().Err(err).Str("member", ms.Member).Msg("replicated member state not applied")
		}
	}
}

// sessionsReady reports whether the session table holds a full copy (always
// true without one).
func (s *Server) sessionsReady() bool {
	tab := s.opts.Sessions
	if tab == nil {
		return true
	}
	select {
	case <-tab.Ready():
		return true
	default:
		return false
	}
}

// setPeers gives the session table the other proxies of view v: each
// proxy advertises its replication address in its metadata (Meta.Addr,
// host:port, or :port to mean its gossip host).
func (s *Server) setPeers(v *membership.View) {
	tab := s.opts.Sessions
	if tab == nil {
		return
	}
	var peers []replication.Peer
	for _, m := range v.Members {
		if m.Name == v.Self.Name || m.Meta.Role != membership.RoleProxy || m.Meta.Addr == "" {
			continue
		}
		addr := m.Meta.Addr
		if strings.HasPrefix(addr, ":") {
			addr = m.Addr.Addr().String() + addr
			if m.Addr.Addr().Is6() {
				addr = "[" + m.Addr.Addr().String() + "]" + m.Meta.Addr
			}
		}
		peers = append(peers, replication.Peer{Name: m.Name, Addr: addr})
	}
	tab.SetPeers(peers)
}

// tableStats adapts the session table to SessionStats for the read model
// (Status). Counting sessions per member walks the table, so the counts are
// recomputed by the server's own loop (runTableStats), at most every
// pinnedEvery and only while someone reads them.
type tableStats struct {
	tab    *replication.Table
	wanted chan struct{} // a reader asked; runTableStats counts

	mu     sync.Mutex
	counts map[[2]string]int
	at     time.Time
}

const pinnedEvery = 2 * time.Second

func newTableStats(tab *replication.Table) *tableStats {
	return &tableStats{tab: tab, wanted: make(chan struct{}, 1)}
}

// Pinned returns the last count of sessions of balancer whose route is
// route, asking for a new count when it is older than pinnedEvery.
func (t *tableStats) Pinned(balancer, route string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.at) > pinnedEvery {
		select {
		case t.wanted <- struct{}{}:
		default:
		}
	}
	return t.counts[[2]string{balancer, route}]
}

// run counts when asked, until ctx ends.
func (t *tableStats) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wanted:
		}
		t.mu.Lock()
		fresh := time.Since(t.at) <= pinnedEvery
		t.mu.Unlock()
		if !fresh {
			t.count()
		}
	}
}

func (t *tableStats) count() {
	counts := map[[2]string]int{}
	t.tab.Snapshot(time.Now(), func(e replication.Entry) bool {
		if !e.Deleted {
			counts[[2]string{e.Balancer, e.Route}]++
		}
		return true
	})
	t.mu.Lock()
	t.counts, t.at = counts, time.Now()
	t.mu.Unlock()
}

func (t *tableStats) Entries() int { return t.tab.Len() }

func (t *tableStats) Sync() SyncStatus {
	st := t.tab.Stats()
	return SyncStatus{Ready: st.Ready, Peers: st.Peers, Connected: st.Connected, AuthFailures: st.AuthFailures}
}

func (t *tableStats) Lag() time.Duration {
	st := t.tab.Stats()
	if st.LagAt.IsZero() {
		return -1
	}
	return st.Lag
}
