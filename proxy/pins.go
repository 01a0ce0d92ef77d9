package proxy

import "net/http"

// Failover pins: when they are written (issue 12, point 9).
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
//
// A session that already has a pin is touched (Table.Touch) as before, and
// re-pinned when its pinned member fails in turn.

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
	if _, err := b.tab.Set(b.name, key, member, st.start); err != nil {
		b.log.Debug().Err(err).Msg("failover pin not recorded")
	}
}
