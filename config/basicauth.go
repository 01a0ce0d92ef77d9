package config

import (
	"encoding/base64"
	"strings"
)

// BasicAuth is a site's `basic_auth` (Caddy's; `basicauth` before Caddy
// 2.8): HTTP Basic authentication against bcrypt hashes.
type BasicAuth struct {
	// Path, when not empty, is the path matcher it guards; empty: every
	// request of the site.
	Path     string
	Realm    string // default "restricted", as Caddy's
	Accounts []Account
	Pos      Pos
}

// Account is one user and the bcrypt hash of its password.
type Account struct {
	User string
	Hash []byte // $2a$/$2b$/$2y$ bcrypt
}

// basicAuth parses basic_auth [PATH] [bcrypt [REALM]] { USER HASH ... }.
// A hash is bcrypt's text ($2a$14$…), or that text in base64 as Caddy's
// hash-password printed it before 2.8.
func basicAuth(n *node) (*BasicAuth, error) {
	a := &BasicAuth{Realm: "restricted", Pos: n.args[0].pos}
	args := n.args[1:]
	if len(args) > 0 {
		if err := matcherArg(args[0], n.name()); err != nil {
			return nil, err
		}
		if pathMatcher(args[0]) {
			a.Path, args = args[0].text, args[1:]
		}
	}
	if len(args) > 0 {
		if args[0].text != "bcrypt" {
			return nil, errorf(args[0].pos, "%s: hash %q: only bcrypt is supported (tether hash-password makes one)", n.name(), args[0].text)
		}
		args = args[1:]
	}
	if len(args) > 0 {
		a.Realm, args = args[0].text, args[1:]
	}
	if len(args) > 0 {
		return nil, errorf(args[0].pos, "%s: unexpected argument %q", n.name(), args[0].text)
	}
	seen := map[string]bool{}
	for _, s := range n.block {
		if err := s.simple(1); err != nil {
			return nil, err
		}
		user := s.args[0].text
		if seen[user] {
			return nil, errorf(s.args[0].pos, "%s: user %q is listed twice", n.name(), user)
		}
		seen[user] = true
		hash, ok := bcryptHash(s.arg(0).text)
		if !ok {
			return nil, errorf(s.arg(0).pos, "%s: the password of %q is not a bcrypt hash (make one with tether hash-password)", n.name(), user)
		}
		a.Accounts = append(a.Accounts, Account{User: user, Hash: hash})
	}
	if len(a.Accounts) == 0 {
		return nil, errorf(n.args[0].pos, "%s: want a block of USER HASH lines", n.name())
	}
	return a, nil
}

func bcryptHash(s string) ([]byte, bool) {
	looks := func(h string) bool {
		return len(h) == 60 && (strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$"))
	}
	if looks(s) {
		return []byte(s), true
	}
	if raw, err := base64.StdEncoding.DecodeString(s); err == nil && looks(string(raw)) {
		return raw, true
	}
	return nil, false
}
