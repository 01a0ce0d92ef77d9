package routing

import "strings"

// Default names of the places a session id is read from (Tomcat's and
// mod_jk's defaults).
const (
	DefaultCookie    = "JSESSIONID"
	DefaultPathParam = "jsessionid"
)

// DefaultSessionNames returns the names Tomcat uses: the JSESSIONID cookie
// and the ;jsessionid= path parameter.
func DefaultSessionNames() SessionNames {
	return SessionNames{Cookie: DefaultCookie, PathParam: DefaultPathParam}
}

// withDefaults fills empty names with the defaults, so the zero
// SessionNames means DefaultSessionNames().
func (n SessionNames) withDefaults() SessionNames {
	if n.Cookie == "" {
		n.Cookie = DefaultCookie
	}
	if n.PathParam == "" {
		n.PathParam = DefaultPathParam
	}
	return n
}

// ParseSessionID splits raw at its first '.' into the id and the route, as
// mod_jk (strchr), mod_proxy_balancer and Tomcat's JvmRouteBinderValve do:
// "ABC.DEF.tomcat1" has id "ABC" and route "DEF.tomcat1". ok is false when
// raw has no '.' or the route is empty. The id may be empty: mod_jk routes
// ".tomcat2" to tomcat2 (its route is whatever follows the first '.'). The
// result shares raw's memory.
func ParseSessionID(raw string) (SessionID, bool) {
	id, route, ok := strings.Cut(raw, ".")
	if !ok || route == "" {
		return SessionID{}, false
	}
	return SessionID{ID: id, Route: route}, true
}

// String returns the session id as the client sent it: ID + "." + Route.
// It allocates; the hot path never calls it.
func (s SessionID) String() string { return s.ID + "." + s.Route }

// PathParam returns the value of the first ";name=" path parameter in path,
// as mod_jk reads ;jsessionid=: the value ends at the next ';', '/' or '?',
// or at the end of path. Only the part of path before the first '?' is
// searched (a query string holds no path parameters). The name is compared
// case-sensitively. ok reports whether the parameter is present; its value
// may be empty. The result shares path's memory.
func PathParam(path, name string) (value string, ok bool) {
	if name == "" {
		return "", false
	}
	if q := strings.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	for from := 0; ; {
		k := strings.Index(path[from:], name)
		if k < 0 {
			return "", false
		}
		start := from + k
		end := start + len(name)
		if start > 0 && path[start-1] == ';' && end < len(path) && path[end] == '=' {
			v := path[end+1:]
			for e := 0; e < len(v); e++ {
				if c := v[e]; c == ';' || c == '/' || c == '?' {
					v = v[:e]
					break
				}
			}
			return v, true
		}
		from = start + 1
	}
}

// CookieScanner iterates, without allocating, over the values of every
// cookie with one name in a list of Cookie header values, in order. Each
// header is split on ';' and also on ',' (as mod_jk does, for clients and
// intermediaries that fold headers), names and values are trimmed of spaces
// and tabs, surrounding double quotes are stripped from values, and empty
// values are skipped. Cookie names are compared case-sensitively (RFC 6265).
//
// The zero CookieScanner yields nothing. A CookieScanner is used by one
// goroutine; values share the headers' memory.
//
//	s := routing.NewCookieScanner(r.Header["Cookie"], "JSESSIONID")
//	for v, ok := s.Next(); ok; v, ok = s.Next() {
//		...
//	}
type CookieScanner struct {
	name    string
	headers []string // headers not yet started
	cur     string   // the unread rest of the current header
}

// NewCookieScanner returns a scanner over the cookies named name in
// cookieHeaders (the values of every Cookie header of a request).
func NewCookieScanner(cookieHeaders []string, name string) CookieScanner {
	if name == "" {
		return CookieScanner{}
	}
	return CookieScanner{name: name, headers: cookieHeaders}
}

// Next returns the next value of a cookie with the scanner's name, and
// false when there are no more.
func (s *CookieScanner) Next() (value string, ok bool) {
	for {
		if s.cur == "" {
			if len(s.headers) == 0 {
				return "", false
			}
			s.cur, s.headers = s.headers[0], s.headers[1:]
			continue
		}
		piece := s.cur
		s.cur = ""
		for k := 0; k < len(piece); k++ { // strings.IndexAny builds a set per call
			if c := piece[k]; c == ';' || c == ',' {
				piece, s.cur = piece[:k], piece[k+1:]
				break
			}
		}
		name, v, found := strings.Cut(piece, "=")
		if !found || trimSpace(name) != s.name {
			continue
		}
		v = trimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if v != "" {
			return v, true
		}
	}
}

// trimSpace trims the spaces and tabs that may surround a cookie pair.
func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// FirstSession returns the first session id candidate of a request, raw: a
// non-empty path parameter n.PathParam, else the first non-empty cookie
// n.Cookie. It is for stickiness by learned or inserted cookies, whose ids
// carry no route. Empty names in n mean the defaults. It does not allocate.
func FirstSession(path string, cookieHeaders []string, n SessionNames) (string, bool) {
	n = n.withDefaults()
	if v, ok := PathParam(path, n.PathParam); ok && v != "" {
		return v, true
	}
	s := NewCookieScanner(cookieHeaders, n.Cookie)
	return s.Next()
}

// FindSession returns the session id a request should stick by. The
// candidates are the path parameter n.PathParam first, then every cookie
// named n.Cookie in order; the first whose route names a member of t wins.
// If none does, the first whose route prefix (the route up to its first
// '.', or all of it) names a member's Domain wins, and Pick routes it within
// that domain (mod_jk's find_bysession_route). Otherwise ok is false and the
// request is balanced as new. The member's state and health do not matter
// here; Pick judges them. Empty names in n mean the defaults. It does not
// allocate.
//
// mod_jk reads cookies only when there is no path parameter; Tether also
// tries the cookies when the path parameter's route is unknown, which can
// only route more requests to their session's member.
func (t *Table) FindSession(path string, cookieHeaders []string, n SessionNames) (SessionID, bool) {
	n = n.withDefaults()
	var hit, dom SessionID
	haveDom := false
	// try reports whether raw names a member, and remembers the first
	// candidate that names a domain.
	try := func(raw string) bool {
		sid, ok := ParseSessionID(raw)
		if !ok {
			return false
		}
		if _, ok := t.index[sid.Route]; ok {
			hit = sid
			return true
		}
		if !haveDom {
			if _, ok := t.domains[routePrefix(sid.Route)]; ok {
				dom, haveDom = sid, true
			}
		}
		return false
	}
	if v, ok := PathParam(path, n.PathParam); ok && try(v) {
		return hit, true
	}
	s := NewCookieScanner(cookieHeaders, n.Cookie)
	for v, ok := s.Next(); ok; v, ok = s.Next() {
		if try(v) {
			return hit, true
		}
	}
	return dom, haveDom
}

// routePrefix returns a route up to its first '.', or all of it: the
// domain part of a mod_jk route such as "az-b.tomcat3".
func routePrefix(route string) string {
	if k := strings.IndexByte(route, '.'); k >= 0 {
		return route[:k]
	}
	return route
}
