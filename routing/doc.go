// Package routing holds Tether's pure routing decisions: reading the session
// id of a request, splitting it into id and route, and choosing the member a
// request goes to (sticky, failover or balanced).
//
// It does no I/O, reads no clock, draws no random numbers and logs nothing;
// everything it needs comes in as arguments (Request.Rand, the Load
// counters), so every rule has a table test. It does not proxy, count
// requests, check health, set cookies or remember failovers: the proxy does,
// and records failover pins in the replicated session table, handing them
// back as Request.Pin.
//
// # Session ids
//
// A session id travels in a cookie or a path parameter (names configurable
// in SessionNames; these are Tomcat's defaults):
//
//	Cookie: JSESSIONID=<id>.<route>
//	/path;jsessionid=<id>.<route>[;...][/...][?query]
//
// The split is at the first '.': <id> has no '.', and <route> is everything
// after it, compared byte for byte with member names, so
// "ABC.DEF.tomcat1" has route "DEF.tomcat1" and does not go to tomcat1.
// This is what mod_jk (strchr), mod_proxy_balancer and Tomcat's
// JvmRouteBinderValve (indexOf) do, measured against Tomcat 10 and mod_jk
// (not the last '.', which some write-ups claim). Ids without '.', or with
// an empty route, carry no route. An empty id with a route (".tomcat2")
// carries that route: mod_jk 1.2.48 routes JSESSIONID=.tomcat2 to tomcat2
// (measured; it takes whatever follows the first '.'). Routes are not
// otherwise restricted.
//
// A path parameter's value ends at ';', '/', '?' or the end of the path;
// only the path before the first '?' is searched. Cookie headers are split
// on ';' and ',', spaces and tabs are trimmed, surrounding double quotes
// are stripped and empty values skipped. Every cookie of the name counts.
//
// # Choosing a member
//
// Table.FindSession tries the path parameter, then each cookie, and keeps
// the first candidate whose route names a member; failing that, the first
// whose route prefix (up to its first '.') names a member's Domain. Table.Pick
// then applies the rules of docs/routing.md: the pin, the session's member if usable
// (active or disabled, healthy), else sticky_force's ErrStickyForced, else
// the member's redirect (even if disabled: a hot standby), a member of its
// domain, or any member usable for new requests. Several failover
// candidates are separated by Rendezvous, a weighted rendezvous hash of the
// full session id with a fixed hash and integer-only arithmetic, so every
// Tether instance, on any architecture, chooses the same member without
// talking, and losing a member moves only its own sessions. Requests
// without a usable session are balanced over active, healthy members by
// the table's Policy, with weights as mod_jk's lbfactor; the hashing
// policies (ip_hash, and Caddy's uri_hash, header and query, which hash
// Request.Key) use the same weighted rendezvous hash as failover, so every
// proxy sends one key to one member, and a key without a value is
// balanced by Options.Fallback. Members marked in
// Request.Exclude (already tried by a retry) are skipped at every step.
//
// # Concurrency
//
// A Table is immutable after NewTable and safe for concurrent use; the
// proxy publishes tables through an atomic.Pointer and builds a new one
// when members, states or weights change. Health and load live in each
// member's *Load, shared by successive tables and read with atomics, so a
// decision may see a member's health change halfway: the result is then a
// member that was usable an instant earlier, never a panic. The only
// state a Table writes is its round-robin cursor (an atomic, on its own
// cache line) and, in NewTable and CatchUp, the request count of a member
// that is catching up. A CookieScanner belongs to one goroutine.
//
// # Cost
//
// FindSession and Pick do not allocate (see BenchmarkStickyPick and
// TestStickyZeroAllocs); a map lookup by route is the only hashing on a
// sticky hit.
package routing
