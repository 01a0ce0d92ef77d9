// Package demoapp is a small session-holding web app used by `tether demo`,
// the examples and the integration tests: it behaves like a Tomcat node with
// a jvmRoute. A new visitor gets `JSESSIONID=<32 hex>.<route>`; each request
// counts against its session and the answer says which route served it.
//
// Backends started with a shared Store behave like a Tomcat cluster with
// session replication: a session that fails over keeps its counter, and
// (with Rename, like Tomcat's JvmRouteBinderValve) is renamed to the new
// route with a fresh Set-Cookie.
package demoapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Store holds session counters, shared by the backends of one demo cluster.
type Store struct {
	mu       sync.Mutex
	sessions map[string]int // id without route → requests
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{sessions: map[string]int{}} }

func (s *Store) hit(id string, create bool) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.sessions[id]
	if !ok && !create {
		return 0, false
	}
	n++
	s.sessions[id] = n
	return n, true
}

// Backend is one app node.
type Backend struct {
	Route  string
	Store  *Store
	Rename bool // rename failed-over sessions to this route (JvmRouteBinderValve)
	// Cookie is the session cookie's name; default JSESSIONID.
	Cookie string
	// NoRoute issues session ids without a ".route" suffix, as PHP, Node
	// or Spring Session apps do (for sticky learn).
	NoRoute bool

	requests atomic.Uint64
	mu       sync.Mutex // guards srv and ln
	srv      *http.Server
	ln       net.Listener
	addr     string
}

// Requests is how many requests this backend answered.
func (b *Backend) Requests() uint64 { return b.requests.Load() }

// Addr is the address the backend listens on (kept across Stop and Start).
func (b *Backend) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// Running reports whether the backend is serving.
func (b *Backend) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv != nil
}

// Start listens on addr (host:0 picks a port; after a Stop, "" reuses the
// previous address) and serves in the background.
func (b *Backend) Start(addr string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return errors.New("already running")
	}
	if addr == "" {
		addr = b.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	b.ln = ln
	b.addr = ln.Addr().String()
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	srv := b.srv
	go srv.Serve(ln)
	return nil
}

// Stop closes the listener and every connection at once, as a crash would.
func (b *Backend) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

// Shutdown stops gracefully.
func (b *Backend) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// ServeHTTP answers every path: /health with "ok", anything else with the
// session counter and the serving route.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.requests.Add(1)
	w.Header().Set("X-Route", b.Route)
	if r.URL.Path == "/health" {
		fmt.Fprintln(w, "ok")
		return
	}
	if r.Body != nil {
		// drain so the connection can be reused
		var buf [4096]byte
		for {
			if _, err := r.Body.Read(buf[:]); err != nil {
				break
			}
		}
	}
	id, route := b.sessionOf(r)
	var count int
	if id != "" && b.Store != nil {
		if n, ok := b.Store.hit(id, false); ok {
			count = n
		}
	} else if id != "" {
		count = -1
	}
	if count == 0 {
		id = newID()
		route = ""
		if b.Store != nil {
			count, _ = b.Store.hit(id, true)
		} else {
			count = 1
		}
	}
	if count < 0 {
		count = 0 // no store: the backend does not count sessions
	}
	value := id + "." + b.Route
	if b.NoRoute {
		value, route = id, b.Route // a routeless id names no route to rename
		if count == 1 {
			route = ""
		}
	}
	if route != b.Route && (route == "" || b.Rename) {
		http.SetCookie(w, &http.Cookie{Name: b.cookieName(), Value: value, Path: "/", HttpOnly: true, Secure: r.Header.Get("X-Forwarded-Proto") == "https"})
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "served by %s, request %d of this session\n", b.Route, count)
}

func (b *Backend) cookieName() string {
	if b.Cookie == "" {
		return "JSESSIONID"
	}
	return b.Cookie
}

// sessionOf returns the session id and route a request carries, from
// ;jsessionid= or the session cookie.
func (b *Backend) sessionOf(r *http.Request) (id, route string) {
	raw := ""
	if b.NoRoute {
		if c, err := r.Cookie(b.cookieName()); err == nil {
			return c.Value, ""
		}
		return "", ""
	}
	if i := strings.Index(r.URL.Path, ";jsessionid="); i >= 0 {
		raw = r.URL.Path[i+len(";jsessionid="):]
		if j := strings.IndexAny(raw, ";/?"); j >= 0 {
			raw = raw[:j]
		}
	} else if c, err := r.Cookie(b.cookieName()); err == nil {
		raw = c.Value
	}
	id, route, _ = strings.Cut(raw, ".")
	return id, route
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
