package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/tether-proxy/tether/config"
)

// swapHandler is a listener's handler that a reload replaces atomically:
// requests in flight finish on the routing they started with, new ones
// take the new one, and no connection is dropped.
type swapHandler struct {
	h atomic.Pointer[http.Handler]
}

func newSwapHandler(h http.Handler) *swapHandler {
	s := &swapHandler{}
	s.h.Store(&h)
	return s
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
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
	ns, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	if len(ns.listeners) != len(s.listeners) {
		return nil, fmt.Errorf("reload changes the listeners (%d now, %d in the new config): restart tether to apply it", len(s.listeners), len(ns.listeners))
	}
	for i, l := range s.listeners {
		nl := ns.listeners[i]
		if nl.addr != l.addr || nl.https != l.https || l.https && !slices.Equal(nl.sites, l.sites) {
			return nil, fmt.Errorf("reload changes listener %s (%v → %v): restart tether to apply it", l.addr, l.sites, nl.sites)
		}
	}
	if o, n := s.cfg.Global.Limits, ns.cfg.Global.Limits; o.HeaderTimeout != n.HeaderTimeout || o.IdleTimeout != n.IdleTimeout || o.MaxHeaderSize != n.MaxHeaderSize {
		return nil, errors.New("reload changes header_timeout, idle_timeout or max_header_size, which the listeners hold: restart tether to apply it")
	}
	if (ns.cfg.Global.Admin == "") != (s.cfg.Global.Admin == "") {
		return nil, errors.New("reload turns the admin listener on or off: restart tether to apply it")
	}
	return ns, nil
}

// apply switches s to ns (built by prepare): balancers keep the members
// that did not change, listeners take the new routing. It runs on Serve's
// goroutine; the caller restarts the balancers' loops.
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
				return o.name == m.name && o.target.String() == m.target.String() && o.source == m.source
			})
			if j >= 0 {
				o := prev[j]
				o.weight, o.domain, o.redirect = m.weight, m.domain, m.redirect
				members[i] = o
			}
		}
		// cluster-discovered members are carried over as they are; the
		// next membership view updates them.
		for _, o := range prev {
			if o.source == "cluster" && nb.cfg.DiscoverService != "" && !slices.Contains(members, o) {
				members = append(members, o)
			}
		}
		if err := nb.install(members); err != nil {
			// prepare built the same set without error; keep the new one.
			s.log.Error().Err(err).Str("balancer", nb.name).Msg("reload kept fresh members")
		}
	}
	for i, l := range s.listeners {
		var h http.Handler = ns.listeners[i].router
		if s.tls != nil && !l.https {
			h = challengeHandler{m: s.tls, next: h}
		}
		l.router = ns.listeners[i].router
		l.swap.h.Store(&h)
	}
	s.bmu.Lock()
	s.balancers = ns.balancers
	s.cfg = ns.cfg
	s.bmu.Unlock()
}

// balancerList returns the current balancers (reloads replace them).
func (s *Server) balancerList() []*Balancer {
	s.bmu.RLock()
	defer s.bmu.RUnlock()
	return s.balancers
}

// reload answers POST /api/reload: the config file is read again and
// applied, or the answer names what is wrong (file:line:col) and the
// running config stays.
func (a *adminServer) reload(w http.ResponseWriter, r *http.Request) {
	if err := a.s.ReloadFile(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}
