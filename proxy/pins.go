package proxy

import (
	"net/http"
	"sync"
	"time"
)

// Failover pins, and what bounds them (issue 12, point 9).
//
// A jvmroute session whose member is unusable fails over by a rendezvous
// hash of its id, which every proxy computes alike; while the member is
// down, that choice needs no entry anywhere. A pin (session id → the member
// it failed over to, in the replicated table) matters only afterwards: it
// keeps the session on its new member when the old one returns, whose copy
// is stale. But the id is the client's to invent, and every pin costs every
// proxy of the cluster an entry, so a balancer writes a new pin only when
// all of these hold:
//
//   - the failover member answered with a status below 400. A 2xx or 3xx
//     answer is the member serving the session; a 4xx or 5xx (an unknown
//     page, a refused login, a failure) says nothing about it, and a pin
//     not written now is not lost: the session's next request fails over
//     to the same member and gets another chance.
//   - the answer kept the session: no Set-Cookie of the session cookie
//     with another value, and none deleting it. Tomcat answers an unknown
//     session id with a new session (and JvmRouteBinderValve renames a
//     replicated one to the new member's route); the client then carries
//     the new id, whose own route is right, and the old id needs no pin.
//   - the balancer's pin bucket has a token (pinLimiter): past it the
//     session is served by the rendezvous choice, without an entry, and
//     counted in pinsRefused.
//
// A session that already has a pin is touched (Table.Touch) as before, and
// re-pinned when its pinned member fails in turn without spending a token:
// that replaces an entry, it adds none.
//
// The bound: a balancer of one proxy creates at most pinBurst +
// pinRate × t pins in any t seconds, and an untouched entry lives at most
// 1.25 session_ttl plus one sweep interval (a minute at most; see
// Table.Touch and Table.Run), so its pins that are never requested again
// number at most pinBurst + pinRate × (1.25 session_ttl + 60 s): 33,100 at
// the default 30m. TestFarmedPinsAreBounded measures the heap they take
// (20-byte ids): 1.3 MB for its 10,000-odd pins, 130 bytes an entry with
// the heap's other growth, so about 4.3 MB for 33,100; the table's own cap
// (2,000,000 entries, 75 bytes each when there are 100,000) would let
// invented ids take some 150 MB. Every proxy of a cluster has its own
// bucket and the table is replicated, so each proxy holds up to that times
// the number of proxies. A client that keeps requesting its invented ids
// (each at least once a session_ttl) keeps their pins alive, as a real
// session would: then, after the burst, its pins grow by at most pinRate a
// second for as long as the member it names is down.

const (
	// pinBurst is how many new pins a balancer may write at once: the
	// sessions of a failed member that come back at the same moment. It
	// is ten times the 1,000 active sessions asked of a member, and the
	// size of the repository's own acceptance test (10,000 sessions of one
	// killed member failed over through one proxy at once,
	// cmd/tether TestReplicatedSessionsAcrossProxies).
	pinBurst = 10_000
	// pinRate is how many new pins a second a balancer may write once the
	// burst is spent: the sessions that come back later, spread over the
	// session_ttl as their users return (18,000 per 30 minutes). It refills
	// an empty bucket in about 17 minutes.
	pinRate = 10
)

// pinLimiter is a token bucket for a balancer's new failover pins. Times
// come in as arguments; it is safe for concurrent use. It is only taken on
// the failover of an unpinned session, so the mutex is off the common path.
type pinLimiter struct {
	burst, rate float64

	// mu guards tokens and last.
	mu     sync.Mutex
	tokens float64
	last   time.Time // the latest now seen; refills are counted from it
}

// newPinLimiter returns a full bucket of burst tokens refilled at rate a
// second.
func newPinLimiter(burst int, rate float64) *pinLimiter {
	return &pinLimiter{burst: float64(burst), rate: rate, tokens: float64(burst)}
}

// take spends a token at now and reports whether there was one. Requests
// finish out of order, so a now before the latest one seen refills nothing.
func (l *pinLimiter) take(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.last) {
		if !l.last.IsZero() {
			l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		}
		l.last = now
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// pinWorthy reports whether resp, the failover member's answer to a request
// of session sent (the id as the client sent it), shows the member serving
// that session: a status below 400 and no Set-Cookie of cookie replacing or
// deleting it.
func pinWorthy(resp *http.Response, cookie, sent string) bool {
	if resp.StatusCode >= http.StatusBadRequest {
		return false
	}
	if v, set, ok := setCookieValue(resp.Header["Set-Cookie"], cookie); ok && (!set || v != sent) {
		return false
	}
	return true
}

// pinFailover records that a jvmroute session failed over to member, when
// the pin can matter (see the top of this file).
func (b *Balancer) pinFailover(resp *http.Response, st *reqState, member string) {
	key := st.key
	if key == "" {
		key = st.req.Session.String()
	}
	if !pinWorthy(resp, b.names.Cookie, key) {
		return
	}
	if !st.pinned && !b.pins.take(st.start) {
		b.pinRefused(st.start)
		return
	}
	if _, err := b.tab.Set(b.name, key, member, st.start); err != nil {
		b.log.Debug().Err(err).Msg("failover pin not recorded")
	}
}

// pinRefused counts a pin the bucket refused and warns, at most once a
// minute, that failed-over sessions go without pins.
func (b *Balancer) pinRefused(now time.Time) {
	n := b.pinsRefused.Add(1)
	sec := now.Unix()
	last := b.lastPinWarn.Load()
	if sec-last >= 60 && b.lastPinWarn.CompareAndSwap(last, sec) {
		// The sessions still reach their failover member while theirs is
		// down; unpinned, they go back to it when it returns.
		b.log.Warn().Uint64("pins_refused", n).Int("pin_burst", int(b.pins.burst)).Float64("pin_rate", b.pins.rate).
			Msg("new failover pins over the rate limit: sessions left unpinned")
	}
}
