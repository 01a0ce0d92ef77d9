package proxy

import (
	"crypto/sha256"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/tether-proxy/tether/config"
)

// basicAuth is a compiled basic_auth: HTTP Basic credentials checked
// against bcrypt hashes. bcrypt costs tens of milliseconds by design, so
// the credentials that passed are remembered (as a hash, never the
// password) and a client sending them again costs a map lookup; an unknown
// user is compared against a real hash too, so that the answer's timing
// does not tell which users exist.
type basicAuth struct {
	challenge string // the WWW-Authenticate value
	users     map[string][]byte
	decoy     []byte // a configured hash, for unknown users

	mu     sync.Mutex
	passed map[[32]byte]bool // sha256 of user, NUL, password
}

// maxPassed bounds the remembered credentials; past it the memory starts
// over.
const maxPassed = 4096

func newBasicAuth(c *config.BasicAuth) *basicAuth {
	a := &basicAuth{challenge: "Basic realm=" + strconv.Quote(c.Realm) + `, charset="UTF-8"`,
		users: map[string][]byte{}, passed: map[[32]byte]bool{}}
	for _, acc := range c.Accounts {
		a.users[acc.User] = acc.Hash
		if a.decoy == nil {
			a.decoy = acc.Hash
		}
	}
	return a
}

// allow reports whether r carries the credentials of a listed user.
func (a *basicAuth) allow(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	a.mu.Lock()
	known := a.passed[key]
	a.mu.Unlock()
	if known {
		return true
	}
	hash, listed := a.users[user]
	if !listed {
		hash = a.decoy
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !listed {
		return false
	}
	a.mu.Lock()
	if len(a.passed) >= maxPassed {
		clear(a.passed)
	}
	a.passed[key] = true
	a.mu.Unlock()
	return true
}

// refuse answers 401 with the challenge a browser prompts for.
func (a *basicAuth) refuse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", a.challenge)
	if handledError(w, r, http.StatusUnauthorized, "authentication required", "") {
		return
	}
	w.WriteHeader(http.StatusUnauthorized)
}
