package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
)

// swapHandler is a listener's handler that a reload replaces atomically:
// requests in flight finish on the routing they started with, new ones
// take the new one, and no connection is dropped. Each request holds its
// config's generation while it runs, so what the config owns (its access
// log files) outlives it as long as needed, and no longer.
type swapHandler struct {
	t atomic.Pointer[swapTarget]
}

// swapTarget is a listener's handler in one config generation.
type swapTarget struct {
	h   http.Handler
	gen *generation
}

func newSwapHandler(h http.Handler, gen *generation) *swapHandler {
	s := &swapHandler{}
	s.store(h, gen)
	return s
}

func (s *swapHandler) store(h http.Handler, gen *generation) {
	s.t.Store(&swapTarget{h: h, gen: gen})
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for {
		t := s.t.Load()
		if t.gen.acquire() {
			defer t.gen.done()
			t.h.ServeHTTP(w, r)
			return
		}
		// t's generation was retired, which happens only after every
		// listener stores its successor (if any), and has drained.
		if s.t.Load() == t {
			// No successor: the server stopped serving.
			w.Header().Set("Connection", "close")
			http.Error(w, "server stopped", http.StatusServiceUnavailable)
			return
		}
	}
}

// generation is what one config (one New) owns that must be released when
// it is replaced: its access-log files, and the idle connections of the
// members the next config dropped. It is reference-counted: the config
// holds one reference while it is current, and every request a listener
// serves on it holds one until its handler, access log line included, has
// returned. retire drops the config's own; the last release closes.
type generation struct {
	refs  atomic.Int64 // 0: released; it never rises again
	files *logFiles
	log   zerolog.Logger
	logs  []*logFile // acquired from files for this config's access logs

	// dropped are members of this config that the next one does not
	// have; set before retire, read by the last release.
	dropped []*member
}

func newGeneration(files *logFiles, log zerolog.Logger) *generation {
	g := &generation{files: files, log: log}
	g.refs.Store(1)
	return g
}

// acquire takes a reference for one request; false when the generation
// is already released (retired and drained).
func (g *generation) acquire() bool {
	for {
		n := g.refs.Load()
		if n == 0 {
			return false
		}
		if g.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// done drops a request's reference.
func (g *generation) done() {
	if g.refs.Add(-1) == 0 {
		g.release()
	}
}

// retire drops the config's own reference: once the requests that began
// on it end, it is released. Call it once, after the listeners serve the
// next config (or never did serve this one).
func (g *generation) retire() { g.done() }

func (g *generation) release() {
	for _, f := range g.logs {
		if err := g.files.release(f); err != nil {
			g.log.Error().Err(err).Msg("access log not closed")
		}
	}
	g.logs = nil
	for _, m := range g.dropped {
		m.closeIdle()
	}
	g.dropped = nil
}

// reloadRequest asks Serve to apply a new config.
type reloadRequest struct {
	cfg   *config.Config
	reply chan error
}

// ErrNotServing means Reload was called on a Server that is not serving.
var ErrNotServing = errors.New("server is not serving")

// Reload applies a new, already parsed config to a serving Server. The new
// config is built in full first; if anything is wrong nothing changes. The
// listeners must stay the same (addresses, and for https the same site
// names): a reload that changes them is refused with a message to restart.
// Members that keep their name and URL keep their connections, health,
// operator state and counters.
func (s *Server) Reload(cfg *config.Config) error {
	req := reloadRequest{cfg: cfg, reply: make(chan error, 1)}
	select {
	case s.reloads <- req:
	case <-s.stopped:
		return ErrNotServing
	}
	return <-req.reply
}

// ReloadFile loads the config file the server was started from and
// applies it (SIGHUP and POST /api/reload).
func (s *Server) ReloadFile() error {
	if s.opts.ConfigPath == "" {
		return errors.New("this server was not started from a config file")
	}
	cfg, err := config.Load(s.opts.ConfigPath)
	if err != nil {
		return err
	}
	return s.Reload(cfg)
}

// prepare builds the Server a reload switches to and checks it can be
// switched to without new listeners. It changes nothing in s.
func (s *Server) prepare(cfg *config.Config) (*Server, error) {
	opts := s.opts
	opts.CheckOnly = false
	ns, err := newServer(cfg, opts, s.files) // shares the open access-log files
	if err != nil {
		return nil, err
	}
	if err := s.compatible(ns); err != nil {
		ns.gen.retire() // closes the files only ns opened
		return nil, err
	}
	return ns, nil
}

// compatible says why s cannot switch to ns without a restart, or nil.
func (s *Server) compatible(ns *Server) error {
	if len(ns.listeners) != len(s.listeners) {
		return fmt.Errorf("reload changes the listeners (%d now, %d in the new config): restart tether to apply it", len(s.listeners), len(ns.listeners))
	}
	for i, l := range s.listeners {
		nl := ns.listeners[i]
		if nl.addr != l.addr || nl.https != l.https || l.https && !slices.Equal(nl.sites, l.sites) {
			return fmt.Errorf("reload changes listener %s (%v → %v): restart tether to apply it", l.addr, l.sites, nl.sites)
		}
		if o, n := l.lim, nl.lim; o.HeaderTimeout != n.HeaderTimeout || o.IdleTimeout != n.IdleTimeout || o.MaxHeaderSize != n.MaxHeaderSize || !slices.Equal(l.protocols, nl.protocols) {
			return fmt.Errorf("reload changes the header_timeout, idle_timeout, max_header_size or protocols of listener %s, which it holds: restart tether to apply it", l.addr)
		}
	}
	if o, n := s.cfg.Global.Limits, ns.cfg.Global.Limits; o.HeaderTimeout != n.HeaderTimeout || o.IdleTimeout != n.IdleTimeout || o.MaxHeaderSize != n.MaxHeaderSize {
		return errors.New("reload changes header_timeout, idle_timeout or max_header_size, which the listeners hold: restart tether to apply it")
	}
	if (ns.cfg.Global.Admin == "") != (s.cfg.Global.Admin == "") {
		return errors.New("reload turns the admin listener on or off: restart tether to apply it")
	}
	return nil
}

// apply switches s to ns (built by prepare): balancers keep the members
// that did not change, listeners take the new routing, and the old config
// is retired: its access-log files that ns does not share are closed, and
// the idle connections of members ns dropped, once the requests that began
// on it end. It runs on Serve's goroutine; the caller restarts the
// balancers' loops.
func (s *Server) apply(ns *Server) {
	old := map[string]*Balancer{}
	for _, b := range s.balancerList() {
		old[b.name] = b
	}
	for _, nb := range ns.balancers {
		nb.srv = s
		ob := old[nb.name]
		if ob == nil {
			continue
		}
		nb.failovers.Store(ob.failovers.Load())
		nb.noMember.Store(ob.noMember.Load())
		nb.pinsRefused.Store(ob.pinsRefused.Load())
		nb.pins = ob.pins // a reload does not refill the pin bucket
		set := nb.set.Load()
		prev := ob.set.Load().members
		members := slices.Clone(set.members)
		for i, m := range members {
			j := slices.IndexFunc(prev, func(o *member) bool {
				return o.name == m.name && o.target.String() == m.target.String() && o.trKey == m.trKey && o.source == m.source
			})
			if j >= 0 {
				o := prev[j]
				o.weight, o.domain, o.redirect = m.weight, m.domain, m.redirect
				members[i] = o
			}
		}
		// discovered members are carried over as they are; the next
		// membership view (or EC2 refresh) updates them.
		for _, o := range prev {
			if (o.source == "cluster" && nb.cfg.DiscoverService != "" || o.source == "ec2" && nb.cfg.DiscoverEC2 != nil) && !slices.Contains(members, o) {
				members = append(members, o)
			}
		}
		if err := nb.install(members); err != nil {
			// prepare built the same set without error; keep the new one.
			s.log.Error().Err(err).Str("balancer", nb.name).Msg("reload kept fresh members")
		}
	}
	kept := map[*member]bool{}
	for _, nb := range ns.balancers {
		for _, m := range nb.set.Load().members {
			kept[m] = true
		}
	}
	var dropped []*member
	for _, ob := range s.balancerList() {
		for _, m := range ob.set.Load().members {
			if !kept[m] {
				dropped = append(dropped, m)
			}
		}
	}
	for i, l := range s.listeners {
		var h http.Handler = ns.listeners[i].router
		if s.tls != nil && !l.https {
			h = challengeHandler{m: s.tls, next: h}
		}
		if l.tls != nil && ns.listeners[i].tls != nil {
			// The sites' handshake settings (protocols, client_auth, ...)
			// apply to new handshakes; connections made before are held to
			// the new settings by the router (421).
			l.tls.Update(ns.listeners[i].tls)
		}
		l.router = ns.listeners[i].router
		l.swap.store(h, ns.gen)
	}
	s.bmu.Lock()
	s.balancers = ns.balancers
	s.cfg = ns.cfg
	s.bmu.Unlock()
	for _, m := range dropped {
		m.closeIdle() // now; those in use are closed when the old config drains
	}
	retired := s.gen
	retired.dropped = dropped
	s.gen = ns.gen
	retired.retire()
}

// balancerList returns the current balancers (reloads replace them).
func (s *Server) balancerList() []*Balancer {
	s.bmu.RLock()
	defer s.bmu.RUnlock()
	return s.balancers
}
