package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
)

// Options are what the process gives a Server besides its config.
type Options struct {
	// Logger receives the server's events; the zero value discards them.
	Logger zerolog.Logger
	// Version is reported by the admin API.
	Version string
	// CheckOnly builds everything for `tether validate` but tolerates what
	// only matters when serving (parts not built yet, such as TLS).
	CheckOnly bool
}

// Server is a running Tether configuration: its listeners, sites,
// balancers and admin API.
type Server struct {
	cfg  *config.Config
	log  zerolog.Logger
	opts Options

	balancers []*Balancer // in config order
	listeners []*listener
	admin     *adminServer

	draining atomic.Bool
	started  time.Time
}

// listener is one bound address and the sites served on it.
type listener struct {
	addr   string // as configured, e.g. "127.0.0.1:8080" or ":80"
	sites  []string
	router *hostRouter
	ln     net.Listener
	srv    *http.Server
}

// New builds a Server from a validated config. It binds nothing; Listen
// does.
func New(cfg *config.Config, opts Options) (*Server, error) {
	s := &Server{cfg: cfg, log: opts.Logger, opts: opts, started: time.Now()}
	byAddr := map[string]*listener{}
	seen := map[string]bool{}
	for i := range cfg.Sites {
		sc := &cfg.Sites[i]
		st, err := s.newSite(sc)
		if err != nil {
			return nil, err
		}
		for _, a := range sc.Addresses {
			bind, err := s.bindAddr(a)
			if err != nil {
				return nil, fmt.Errorf("%s: site %s: %w", sc.Pos, a.Raw, err)
			}
			key := bind
			if strings.HasSuffix(bind, ":0") {
				key = bind + "#" + a.Raw // each port-0 address gets its own listener
			}
			l := byAddr[key]
			if l == nil {
				l = &listener{addr: bind, router: &hostRouter{}}
				byAddr[key] = l
				s.listeners = append(s.listeners, l)
			}
			if seen[key+"|"+a.Host] {
				return nil, fmt.Errorf("%s: site %s: address defined twice", sc.Pos, a.Raw)
			}
			seen[key+"|"+a.Host] = true
			l.router.add(a.Host, st)
			l.sites = append(l.sites, a.Raw)
		}
	}
	for _, l := range s.listeners {
		l.srv = s.newHTTPServer(l.router)
	}
	if cfg.Global.Admin != "" {
		a, err := newAdminServer(s, cfg.Global.Admin, cfg.Global.AdminToken)
		if err != nil {
			return nil, fmt.Errorf("%s: admin: %w", cfg.Global.Pos, err)
		}
		s.admin = a
	}
	return s, nil
}

func (s *Server) newSite(sc *config.Site) (*site, error) {
	st := &site{cfg: sc}
	if len(sc.TrustedProxies) > 0 {
		st.trusted = &trustedProxies{prefixes: sc.TrustedProxies}
	}
	for _, bc := range sc.Balancers {
		b, err := newBalancer(s, bc, s.log)
		if err != nil {
			return nil, err
		}
		b.site = st
		for _, other := range s.balancers {
			if other.name == b.name {
				return nil, fmt.Errorf("%s: balancer name %q is used twice", bc.Pos, b.name)
			}
		}
		s.balancers = append(s.balancers, b)
		st.mounts = append(st.mounts, mount{
			include: compilePatterns(bc.Paths),
			exclude: compilePatterns(bc.Excludes),
			b:       b,
		})
	}
	if fs := sc.FileServer; fs != nil {
		st.files = newFileServer(fs)
	}
	if al := sc.AccessLog; al != nil {
		l, err := newAccessLogger(al, s.opts.CheckOnly)
		if err != nil {
			return nil, fmt.Errorf("%s: access_log: %w", al.Pos, err)
		}
		st.accessLog = l
	}
	return st, nil
}

// bindAddr is the address a site address listens on. An IP site listens on
// that IP, localhost on loopback, a named site on every interface (the Host
// header then picks the site).
func (s *Server) bindAddr(a config.Address) (string, error) {
	scheme := a.Scheme
	port := a.Port
	if scheme == "" {
		if port != 0 && port == s.cfg.Global.HTTPPort {
			scheme = "http"
		} else {
			scheme = "https"
		}
	}
	if scheme == "https" && !s.opts.CheckOnly {
		return "", errors.New("https sites need TLS termination, which is not built yet (see README: unfinished); use an http:// address")
	}
	if port == 0 && !strings.Contains(a.Raw, ":0") {
		port = s.cfg.Global.HTTPPort
		if port == 0 {
			port = 80
		}
	}
	host := ""
	switch {
	case a.Host == "localhost":
		host = "127.0.0.1"
	case isIPLiteral(a.Host):
		host = a.Host
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// newHTTPServer sets the limits every listener shares: a header timeout
// against slowloris, 64 KiB of headers (larger gets 431 from net/http), and
// idle keep-alive connections closed after two minutes.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newStdLogger(s.log, "http server"),
	}
}

// Listen binds every listener (and the admin API). After it returns, Addrs
// reports the bound addresses.
func (s *Server) Listen() error {
	var lc net.ListenConfig
	for _, l := range s.listeners {
		ln, err := lc.Listen(context.Background(), "tcp", l.addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen for %s: %w", strings.Join(l.sites, ", "), err)
		}
		l.ln = ln
	}
	if s.admin != nil {
		if err := s.admin.listen(); err != nil {
			s.closeListeners()
			return err
		}
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
	}
}

// Ready describes the bound addresses, for --ready-file.
type Ready struct {
	PID       int             `json:"pid"`
	Admin     string          `json:"admin,omitempty"`
	Listeners []ReadyListener `json:"listeners"`
}

// ReadyListener is one bound listener and the site addresses it serves.
type ReadyListener struct {
	Addr  string   `json:"addr"`
	Sites []string `json:"sites"`
}

// Addrs reports what Listen bound.
func (s *Server) Addrs() Ready {
	var r Ready
	for _, l := range s.listeners {
		if l.ln != nil {
			r.Listeners = append(r.Listeners, ReadyListener{Addr: l.ln.Addr().String(), Sites: l.sites})
		}
	}
	if s.admin != nil && s.admin.ln != nil {
		r.Admin = s.admin.ln.Addr().String()
	}
	return r
}

// Serve serves until ctx is cancelled, then drains: /healthz turns 503,
// Serve waits drain_delay, stops accepting, and lets in-flight requests
// finish within shutdown_timeout.
func (s *Server) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(s.listeners)+1)
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	for _, b := range s.balancers {
		wg.Go(func() { _ = b.Run(runCtx) })
	}
	for _, l := range s.listeners {
		wg.Go(func() {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.ln.Addr(), err)
			}
		})
	}
	if s.admin != nil {
		wg.Go(func() {
			if err := s.admin.srv.Serve(s.admin.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve admin: %w", err)
			}
		})
	}
	s.log.Info().Int("listeners", len(s.listeners)).Int("balancers", len(s.balancers)).Msg("serving")

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.shutdown()
	stopRun()
	wg.Wait()
	return err
}

func (s *Server) shutdown() {
	s.draining.Store(true)
	if d := s.cfg.Global.DrainDelay; d > 0 {
		s.log.Info().Dur("drain_delay", d).Msg("draining: healthz answers 503")
		time.Sleep(d)
	}
	timeout := orDefault(s.cfg.Global.ShutdownTimeout, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		wg.Go(func() {
			if err := l.srv.Shutdown(ctx); err != nil {
				s.log.Warn().Err(err).Str("addr", l.addr).Msg("in-flight requests cut at shutdown timeout")
				l.srv.Close()
			}
		})
	}
	wg.Wait()
	if s.admin != nil {
		s.admin.srv.Shutdown(ctx)
	}
	s.log.Info().Msg("stopped")
}

// Balancer returns the balancer with that name, or nil.
func (s *Server) Balancer(name string) *Balancer {
	for _, b := range s.balancers {
		if b.name == name {
			return b
		}
	}
	return nil
}
