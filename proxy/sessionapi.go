package proxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tether-proxy/tether/routing"
)

// SessionInfo says where a session of a balancer goes and why: the route
// in its id, the session table's entry for it (a failover pin or a learned
// session), and the member its next request goes to. It is what
// GET /api/sessions and "tether sessions" show, as HAProxy's show table
// does; the session id itself is echoed to the operator who asked and never
// logged.
type SessionInfo struct {
	Balancer string `json:"balancer"`
	ID       string `json:"id"`
	// Sticky is the balancer's mode: jvmroute, learn, cookie or off.
	Sticky string `json:"sticky"`
	// IDRoute is the route the id carries (after its first '.'), for
	// jvmroute; "" when it has none.
	IDRoute string `json:"id_route,omitempty"`
	// IDMember says whether a member of the balancer has that route.
	IDMember bool `json:"id_member"`
	// Entry is the session table's live entry for the id; nil when there
	// is none.
	Entry *SessionEntry `json:"entry,omitempty"`
	// Member is where the session's next request goes; "" when none can
	// take it (Error says why).
	Member string `json:"member,omitempty"`
	// Reason is how Member is chosen: sticky (the id's route), pinned (a
	// failover pin), learned (sticky learn), redirect, domain or failover
	// (the route's member is unusable), or balanced (no usable route: as
	// a new session).
	Reason string `json:"reason"`
	Why    string `json:"why"`
	Error  string `json:"error,omitempty"`
}

// SessionEntry is a session table entry as the API shows it.
type SessionEntry struct {
	// Kind is "pin" (jvmroute: where a failed-over session now lives) or
	// "learned" (sticky learn).
	Kind   string `json:"kind"`
	Route  string `json:"route"`
	Origin string `json:"origin"` // the proxy that wrote it
	// Written is when it was written, Age how long ago (seconds).
	Written time.Time `json:"written"`
	Age     float64   `json:"age_seconds"`
	// Expires is when it is forgotten unless the session is used again.
	Expires   time.Time `json:"expires"`
	ExpiresIn float64   `json:"expires_in_seconds"`
}

// ErrNoSessionTable is returned when there is no session table (a proxy
// without a cluster and without sticky learn).
var ErrNoSessionTable = errors.New("this proxy has no session table")

// ErrSessionsUnsupported is returned for a balancer whose sessions are not
// in the table: sticky cookie (the route is in the client's signed
// cookie) or off.
var ErrSessionsUnsupported = errors.New("this balancer keeps no sessions in the table")

// Session describes session id of balancer bal at now.
func (s *Server) Session(bal, id string, now time.Time) (SessionInfo, error) {
	b := s.Balancer(bal)
	if b == nil {
		return SessionInfo{}, fmt.Errorf("no balancer %q: %w", bal, ErrNotFound)
	}
	return b.session(id, now), nil
}

func (b *Balancer) session(id string, now time.Time) SessionInfo {
	info := SessionInfo{Balancer: b.name, ID: id, Sticky: b.cfg.Sticky.Mode}
	set := b.set.Load()
	t := set.table
	req := routing.Request{}
	switch b.cfg.Sticky.Mode {
	case "off":
		info.Reason, info.Why = "balanced", "the balancer is not sticky: every request is balanced by lb_policy"
		return info
	case "cookie":
		info.Reason, info.Why = "cookie", "sticky cookie: the member is named in the client's signed cookie, not in the session table"
		return info
	case "learn":
	default: // jvmroute
		if sid, ok := routing.ParseSessionID(id); ok {
			info.IDRoute = sid.Route
			_, info.IDMember = t.Index(sid.Route)
			req.Session, req.HasSession = sid, info.IDMember
		}
	}
	if b.tab != nil {
		if e, ok := b.tab.Lookup(b.name, id, now); ok {
			kind := "pin"
			if b.cfg.Sticky.Mode == "learn" {
				kind = "learned"
			}
			written := e.Version.Wall().UTC()
			info.Entry = &SessionEntry{Kind: kind, Route: e.Route, Origin: e.Origin, Written: written,
				Age: now.Sub(written).Seconds(), Expires: e.Expires, ExpiresIn: e.Expires.Sub(now).Seconds()}
			req.Pin = e.Route
			if _, known := t.Index(e.Route); known && b.cfg.Sticky.Mode != "learn" {
				req.Session.Route, req.HasSession = e.Route, true
			}
		}
	}
	if !req.HasSession && req.Pin == "" {
		info.Reason = "balanced"
		switch {
		case b.cfg.Sticky.Mode == "learn":
			info.Why = "no learned entry for this session: its next request is balanced as a new one (lb_policy " + b.cfg.LBPolicy + ")"
		case info.IDRoute == "":
			info.Why = "the id carries no route (no '.'): balanced as a new session (lb_policy " + b.cfg.LBPolicy + ")"
		default:
			info.Why = "no member has the route " + info.IDRoute + ": balanced as a new session (lb_policy " + b.cfg.LBPolicy + ")"
		}
		return info
	}
	dec, err := t.Pick(&req)
	if err != nil {
		info.Reason, info.Error = "none", err.Error()
		info.Why = "no member can take it"
		if errors.Is(err, routing.ErrStickyForced) {
			info.Why = "its member cannot take it and sticky_force is on: answered 503"
		}
		return info
	}
	info.Member = dec.Member.Name
	switch {
	case info.Entry != nil && dec.Member.Name == info.Entry.Route && info.Entry.Kind == "pin" && info.Entry.Route != info.IDRoute:
		info.Reason = "pinned"
		info.Why = fmt.Sprintf("pinned to %s by %s %.0fs ago (after a failover, or moved by an operator); the pin wins over the id's route %s until it expires or is removed", info.Entry.Route, info.Entry.Origin, info.Entry.Age, orNone(info.IDRoute))
	case info.Entry != nil && dec.Member.Name == info.Entry.Route && info.Entry.Kind == "learned":
		info.Reason = "learned"
		info.Why = fmt.Sprintf("learned from %s's Set-Cookie, recorded by %s %.0fs ago", info.Entry.Route, info.Entry.Origin, info.Entry.Age)
	case dec.Reason == routing.ReasonSticky:
		info.Reason = "sticky"
		info.Why = "the id's route " + info.IDRoute + " names a member that takes it"
	default:
		info.Reason = dec.Reason.String()
		info.Why = fmt.Sprintf("the member of route %s cannot take it: it fails over to %s (%s)", orNone(dec.From), dec.Member.Name, dec.Reason)
	}
	return info
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// DeleteSession removes the session table's entry for id (a pin or a
// learned session) on every proxy: a tombstone is replicated, so the next
// request routes by the id's own route again (or is balanced, for learn).
func (s *Server) DeleteSession(bal, id string, now time.Time) (SessionInfo, error) {
	b, err := s.sessionBalancer(bal)
	if err != nil {
		return SessionInfo{}, err
	}
	if _, err := b.tab.Delete(b.name, id, now); err != nil {
		return SessionInfo{}, fmt.Errorf("delete: %w", err)
	}
	b.log.Info().Str("session", sessionHash(id)).Msg("session entry removed through the admin API")
	return b.session(id, now), nil
}

// MoveSession pins session id to member on every proxy: its next requests
// go there (while the member can take them).
func (s *Server) MoveSession(bal, id, member string, now time.Time) (SessionInfo, error) {
	b, err := s.sessionBalancer(bal)
	if err != nil {
		return SessionInfo{}, err
	}
	if _, ok := b.set.Load().table.Index(member); !ok {
		return SessionInfo{}, fmt.Errorf("balancer %s has no member %q: %w", b.name, member, ErrNotFound)
	}
	if _, err := b.tab.Set(b.name, id, member, now); err != nil {
		return SessionInfo{}, fmt.Errorf("move: %w", err)
	}
	b.log.Info().Str("session", sessionHash(id)).Str("to_member", member).Msg("session moved through the admin API")
	return b.session(id, now), nil
}

func (s *Server) sessionBalancer(bal string) (*Balancer, error) {
	b := s.Balancer(bal)
	switch {
	case b == nil:
		return nil, fmt.Errorf("no balancer %q: %w", bal, ErrNotFound)
	case b.tab == nil:
		return nil, ErrNoSessionTable
	case b.cfg.Sticky.Mode == "cookie" || b.cfg.Sticky.Mode == "off":
		return nil, ErrSessionsUnsupported
	}
	return b, nil
}

// sessionLogKey keys sessionHash: a process's log lines can be correlated, and no
// session id can be read back from them (or guessed from another log).
var sessionLogKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

// sessionHash is what logs show instead of a session id.
func sessionHash(id string) string {
	h := hmac.New(sha256.New, sessionLogKey)
	h.Write([]byte(id))
	return hex.EncodeToString(h.Sum(nil)[:8])
}
