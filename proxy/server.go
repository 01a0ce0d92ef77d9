package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy/certs"
	"github.com/tether-proxy/tether/proxy/proxyproto"
	"github.com/tether-proxy/tether/replication"
)

// Options are what the process gives a Server besides its config.
type Options struct {
	// Logger receives the server's events; the zero value discards them.
	Logger zerolog.Logger
	// Version is reported by the admin API.
	Version string
	// CheckOnly builds everything for `tether validate` but tolerates what
	// only matters when serving, and touches no storage.
	CheckOnly bool
	// DataDir is the default certificate storage directory (storage file
	// without DIR): cmd sets it from $TETHER_DATA or the XDG data dir.
	DataDir string
	// ConfigPath is the config file, for reloads (SIGHUP, POST
	// /api/reload); "" when the config did not come from a file.
	ConfigPath string
	// Cluster is this proxy's membership when the config has a cluster
	// block; balancers with `discover cluster` follow its views.
	Cluster ClusterView
	// Sessions is the session table shared with the other proxies
	// (failover pins, sticky learn, member states); nil runs without one:
	// no pins, no sticky learn, member states local and not persisted. The
	// caller runs it (Table.Run); Serve gives it the cluster's proxies as
	// peers and /healthz answers 503 until it is Ready.
	Sessions *replication.Table
	// SessionStore says Sessions has a shared store (store dynamodb):
	// sticky learn then reads it on a local miss.
	SessionStore bool
	// AffinityKey signs `sticky cookie` cookies; every proxy of a cluster
	// must have the same (cmd derives it from the cluster key). Empty: a
	// random key per process.
	AffinityKey []byte
	// Admin builds the handler of the admin listener (the `admin` global
	// option) for s; package admin's New is the one Tether uses. An error
	// fails New, as a bad config does. Nil: no admin listener.
	Admin func(s *Server, g *config.Global) (http.Handler, error)
	// ProxyHeaderTimeout bounds the wait for a PROXY protocol header on a
	// `proxy_protocol` listener (proxyproto.DefaultHeaderTimeout when zero).
	ProxyHeaderTimeout time.Duration
}

// ClusterView is the part of the cluster membership the proxy reads: live
// members and a signal when they change (*membership.Cluster).
type ClusterView = clusterView

// Server is a running Tether configuration: its listeners, sites,
// balancers and admin API.
type Server struct {
	cfg  *config.Config
	log  zerolog.Logger
	opts Options

	balancers []*Balancer // in config order
	listeners []*listener
	admin     *adminListener             // nil without `admin` or Options.Admin
	tls       *certs.Manager             // nil without https sites
	tlsNames  map[*certs.Policy][]string // names each policy manages

	// bmu guards balancers and cfg once serving: a reload replaces them.
	bmu sync.RWMutex

	reloads chan reloadRequest // to Serve, which applies reloads
	stopped chan struct{}      // closed when Serve returns

	draining atomic.Bool
	started  time.Time

	affinity *affinity // signs sticky cookie values

	// The read model's own state (Status): the dates of cluster members,
	// and the session table's counts.
	seen       *clusterSeen
	stats      atomic.Pointer[sessionStatsBox] // SetSessionStats
	tableStats *tableStats                     // with Options.Sessions; Serve runs its loop

	agree agreement   // this node's balancers compared with its peers' (clustercheck.go)
	files *logFiles   // access-log files, shared by every config a reload builds
	gen   *generation // what the current config owns; Serve's goroutine replaces it
}

// listener is one bound address and the sites served on it.
type listener struct {
	addr   string // as configured, e.g. "127.0.0.1:8080" or ":80"
	sites  []string
	router *hostRouter
	ln     net.Listener
	srv    *http.Server
	swap   *swapHandler // the handler reloads replace
	https  bool
	tls    *certs.Listener // https only
	// proxyProto, when not nil, is the set of peers that must send a
	// PROXY protocol header; nil: no PROXY protocol.
	proxyProto *trustedProxies
	ppSet      bool // proxyProto was set by a site (nil or not)
	fresh      freshConns
	// maxURI is the longest request target a site of the listener allows:
	// longer request lines are refused (414) before net/http reads them.
	maxURI int64
	// lim holds the listener's own limits (header_timeout, idle_timeout,
	// max_header_size): the global ones, or those of Caddy's servers
	// block for its address; protocols are that block's (nil: h1, h2).
	lim       config.Limits
	protocols []string
}

// connState tracks a listener's connections: those that never sent a
// request (closed at shutdown), and hijacked ones, whose bytes are no
// longer HTTP to watch.
func (l *listener) connState(c net.Conn, st http.ConnState) {
	l.fresh.track(c, st)
	if st == http.StateHijacked {
		if fc := framingOf(c); fc != nil {
			fc.off.Store(true)
		}
	}
}

// withFramingConn puts an HTTP/1.x connection's framingConn in the
// context of its requests, for the edge handler.
func withFramingConn(ctx context.Context, c net.Conn) context.Context {
	if fc := framingOf(c); fc != nil {
		return context.WithValue(ctx, framingKey{}, fc)
	}
	return ctx
}

// New builds a Server from a validated config. It binds nothing; Listen
// does. The access-log files it opens are closed when Serve returns.
func New(cfg *config.Config, opts Options) (*Server, error) {
	return newServer(cfg, opts, &logFiles{})
}

// newServer is New with the access-log files shared with the other
// configs of the process (a reload's). On error, what it opened is closed.
func newServer(cfg *config.Config, opts Options, files *logFiles) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: opts.Logger, opts: opts, started: time.Now(), tlsNames: map[*certs.Policy][]string{},
		reloads: make(chan reloadRequest), stopped: make(chan struct{}), affinity: newAffinity(opts.AffinityKey),
		agree: agreement{kick: make(chan struct{}, 1)}, files: files, gen: newGeneration(files, opts.Logger),
		seen: newClusterSeen(goneKeep, goneMax)}
	if opts.Sessions != nil {
		s.tableStats = newTableStats(opts.Sessions)
		s.SetSessionStats(s.tableStats)
	}
	gen := s.gen
	defer func() {
		if err != nil {
			gen.retire()
		}
	}()
	byAddr := map[string]*listener{}
	seen := map[string]bool{}
	type redirect struct {
		bind, host string
		sc         *config.Site
	}
	var redirects []redirect
	for i := range cfg.Sites {
		sc := &cfg.Sites[i]
		st, err := s.newSite(sc)
		if err != nil {
			return nil, err
		}
		for _, a := range sc.Addresses {
			scheme := s.scheme(a)
			bind := s.bindAddr(a, scheme)
			key := bind
			if strings.HasSuffix(bind, ":0") {
				key = bind + "#" + a.Raw // each port-0 address gets its own listener
			}
			l := byAddr[key]
			if l == nil {
				l = s.newListener(bind, scheme == "https")
				byAddr[key] = l
				s.listeners = append(s.listeners, l)
			}
			if l.https != (scheme == "https") {
				return nil, fmt.Errorf("%s: site %s: %s serves both http and https sites", sc.Pos, a.Raw, bind)
			}
			if seen[key+"|"+a.Host] {
				return nil, fmt.Errorf("%s: site %s: address defined twice", sc.Pos, a.Raw)
			}
			seen[key+"|"+a.Host] = true
			if err := l.setProxyProtocol(sc); err != nil {
				return nil, fmt.Errorf("%s: site %s: %w", sc.Pos, a.Raw, err)
			}
			l.router.add(a.Host, st)
			l.sites = append(l.sites, a.Raw)
			l.maxURI = max(l.maxURI, st.limits.MaxURILength)
			if scheme != "https" {
				continue
			}
			if s.tls == nil {
				s.tls = certs.NewManager(&cfg.Global, opts.DataDir, opts.Logger)
			}
			if l.tls == nil {
				l.tls = s.tls.NewListener()
			}
			p, err := s.tls.PolicyFor(sc, a.Host)
			if err != nil {
				return nil, fmt.Errorf("%s: site %s: %w", sc.Pos, a.Raw, err)
			}
			l.tls.Add(a.Host, p)
			l.router.checkTLS = l.router.checkTLS || st.conn != certs.DefaultConn
			s.tlsNames[p] = append(s.tlsNames[p], certName(a.Host))
			if a.Port == 0 && !strings.HasSuffix(a.Raw, ":0") && cfg.Global.AutoHTTPS != "off" && cfg.Global.AutoHTTPS != "disable_redirects" {
				// The default HTTPS port gets HTTP->HTTPS redirects (and
				// HTTP-01 challenges) on the HTTP port.
				host, _, _ := net.SplitHostPort(bind)
				redirects = append(redirects, redirect{net.JoinHostPort(host, strconv.Itoa(cfg.Global.HTTPPort)), a.Host, sc})
			}
		}
	}
	for _, r := range redirects {
		l := byAddr[r.bind]
		if l == nil {
			l = s.newListener(r.bind, false)
			byAddr[r.bind] = l
			s.listeners = append(s.listeners, l)
		}
		if l.https {
			return nil, fmt.Errorf("%s: the HTTP port %s of https site %s is an https listener", r.sc.Pos, r.bind, r.host)
		}
		if err := l.setProxyProtocol(r.sc); err != nil {
			return nil, fmt.Errorf("%s: site %s: %w", r.sc.Pos, r.host, err)
		}
		if seen[r.bind+"|"+r.host] {
			continue // an http:// site of that name answers itself
		}
		seen[r.bind+"|"+r.host] = true
		// A site without balancers or mounts serves its files handler,
		// here the redirect.
		l.router.add(r.host, &site{cfg: r.sc, prog: &program{end: redirectHandler{httpsPort: cfg.Global.HTTPSPort}}, conn: certs.DefaultConn})
		l.sites = append(l.sites, "http://"+r.host+" (redirect)")
	}
	for _, l := range s.listeners {
		var h http.Handler = l.router
		if s.tls != nil && !l.https {
			h = challengeHandler{m: s.tls, next: h}
		}
		l.swap = newSwapHandler(h, s.gen)
		l.srv = s.newHTTPServer(edgeHandler{next: l.swap}, l)
		l.srv.ConnState = l.connState
		l.srv.ConnContext = withConnContext
		if l.maxURI == 0 {
			l.maxURI = cfg.Global.Limits.MaxURILength // only redirect sites
		}
	}
	if cfg.Global.Admin != "" && opts.Admin != nil {
		h, err := opts.Admin(s, &cfg.Global)
		if err != nil {
			return nil, fmt.Errorf("%s: admin: %w", cfg.Global.Pos, err)
		}
		s.admin = &adminListener{addr: cfg.Global.Admin, proxyProto: cfg.Global.AdminProxyProtocol, log: s.log}
		s.admin.srv = &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          newStdLogger(s.log, "admin"),
			ConnState:         s.admin.fresh.track,
		}
	}
	return s, nil
}

// addBalancer starts the balancer of bc for site st; its name must be new,
// unless an earlier site imported the same worker (config.Balancer.Source):
// then both sites share that balancer, one state, health, counters and set
// of connections, as mod_jk has one worker however many virtual hosts
// mount it.
func (s *Server) addBalancer(st *site, bc *config.Balancer) (*Balancer, error) {
	for _, other := range s.balancers {
		if other.name != bc.Name {
			continue
		}
		if bc.Source != "" && other.cfg.Source == bc.Source {
			return other, nil
		}
		return nil, fmt.Errorf("%s: balancer name %q is used twice", bc.Pos, bc.Name)
	}
	b, err := newBalancer(s, bc, s.log)
	if err != nil {
		return nil, err
	}
	b.site = st
	s.balancers = append(s.balancers, b)
	return b, nil
}

func (s *Server) newSite(sc *config.Site) (*site, error) {
	st := &site{cfg: sc, limits: &siteLimits{Limits: s.cfg.Global.Limits}}
	conn, err := certs.NewConn(sc.TLS)
	if err != nil {
		return nil, fmt.Errorf("%s: tls: %w", sc.Pos, err)
	}
	st.conn = conn
	if sc.Limits != nil {
		st.limits.Limits = *sc.Limits
	}
	for _, m := range sc.AllowMethods {
		if st.limits.allow == nil {
			st.limits.allow = map[string]bool{}
		}
		st.limits.allow[m] = true
	}
	if len(sc.TrustedProxies) > 0 {
		st.trusted = &trustedProxies{prefixes: sc.TrustedProxies, headers: sc.ClientIPHeaders}
	}
	c := &compiler{s: s, st: st, trusted: st.trusted, balancers: map[*config.Balancer]*Balancer{}}
	for _, bc := range sc.Balancers { // in file order, as the status page lists them
		b, err := s.addBalancer(st, bc)
		if err != nil {
			return nil, err
		}
		c.balancers[bc] = b
	}
	if err := c.compileRoutes(sc.Routes); err != nil {
		return nil, err
	}
	st.prog = &program{ops: c.ops, end: notFound{}}
	st.clientIP = st.trusted != nil && usesClientIP(sc)
	for _, er := range sc.ErrorRoutes {
		c.ops = nil
		if err := c.compileRoutes(er.Routes); err != nil {
			return nil, err
		}
		if st.errors == nil {
			st.errors = &errorPages{}
		}
		st.errors.routes = append(st.errors.routes, errorRoute{cfg: er, prog: &program{ops: c.ops, end: errorEnd{}}})
	}
	if al := sc.AccessLog; al != nil {
		l, f, err := newAccessLogger(al, s.opts.CheckOnly, s.files)
		if err != nil {
			return nil, fmt.Errorf("%s: access_log: %w", al.Pos, err)
		}
		if f != nil {
			s.gen.logs = append(s.gen.logs, f)
		}
		st.accessLog = l
	}
	return st, nil
}

// scheme is a site address's scheme: as written, else http on the HTTP
// port and https anywhere else.
func (s *Server) scheme(a config.Address) string {
	if a.Scheme != "" {
		return a.Scheme
	}
	if a.Port != 0 && a.Port == s.cfg.Global.HTTPPort {
		return "http"
	}
	return "https"
}

// bindAddr is the address a site address listens on. An IP site listens on
// that IP, localhost on loopback, a named site on every interface (the Host
// header, or the TLS server name, then picks the site). Without a port, the
// scheme's global port.
func (s *Server) bindAddr(a config.Address, scheme string) string {
	port := a.Port
	if port == 0 && !strings.Contains(a.Raw, ":0") {
		port = s.cfg.Global.HTTPPort
		if scheme == "https" {
			port = s.cfg.Global.HTTPSPort
		}
	}
	host := ""
	switch {
	case a.Host == "localhost":
		host = "127.0.0.1"
	case isIPLiteral(a.Host):
		host = a.Host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// certName is the certificate name of an https site host: the host, or
// localhost for a site without one.
func certName(host string) string {
	if host == "" {
		return "localhost"
	}
	return strings.Trim(host, "[]")
}

// setProxyProtocol records site sc's proxy_protocol ranges on l; sites
// sharing a listener must agree, since the header precedes any Host.
func (l *listener) setProxyProtocol(sc *config.Site) error {
	var pp *trustedProxies
	if len(sc.ProxyProtocol) > 0 {
		pp = &trustedProxies{prefixes: sc.ProxyProtocol}
	}
	if l.ppSet {
		var have []netip.Prefix
		if l.proxyProto != nil {
			have = l.proxyProto.prefixes
		}
		if !slices.Equal(have, sc.ProxyProtocol) {
			return fmt.Errorf("sites on %s disagree on proxy_protocol", l.addr)
		}
		return nil
	}
	l.proxyProto, l.ppSet = pp, true
	return nil
}

// challengeHandler answers ACME HTTP-01 challenges on a plain-HTTP
// listener, also those another instance began (from the shared storage),
// before any site sees the request.
type challengeHandler struct {
	m    *certs.Manager
	next http.Handler
}

func (h challengeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.m.HandleHTTPChallenge(w, r) {
		return
	}
	h.next.ServeHTTP(w, r)
}

// freshConns tracks the connections that have not sent a request yet
// (browsers' and load balancers' preconnections). net/http's Shutdown
// waits up to 5 s for those to send one; at shutdown they are closed
// instead once they have been idle a moment, since nothing was asked of
// them.
type freshConns struct {
	mu sync.Mutex
	m  map[net.Conn]time.Time
}

func (f *freshConns) track(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		f.mu.Lock()
		if f.m == nil {
			f.m = map[net.Conn]time.Time{}
		}
		f.m[c] = time.Now()
		f.mu.Unlock()
	case http.StateActive, http.StateHijacked, http.StateClosed:
		f.mu.Lock()
		delete(f.m, c)
		f.mu.Unlock()
	}
}

// freshGrace is how long a connection may have been open without a
// request before shutdown closes it.
const freshGrace = 500 * time.Millisecond

// closeWhile closes fresh connections older than freshGrace until done.
func (f *freshConns) closeWhile(done <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		f.mu.Lock()
		for c, at := range f.m {
			if now.Sub(at) > freshGrace {
				c.Close()
				delete(f.m, c)
			}
		}
		f.mu.Unlock()
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// newListener is a listener for bind, with the limits and protocols of
// Caddy's servers block for that address, if any.
func (s *Server) newListener(bind string, https bool) *listener {
	l := &listener{addr: bind, router: &hostRouter{}, https: https, lim: s.cfg.Global.Limits}
	if so := s.cfg.Global.ServerFor(bind); so != nil {
		l.lim, l.protocols = so.Limits, so.Protocols
	}
	return l
}

// newHTTPServer sets the limits of listener l (the global limits block,
// or Caddy's servers block for its address): a header timeout against
// slowloris (it also bounds the TLS handshake), the header size (larger
// gets 431 from net/http), and the keep-alive idle time. An https listener
// serves HTTP/2 and HTTP/1.1 by ALPN (HTTP/1.1 only when protocols leaves
// out h2); a plain one HTTP/1.1, and HTTP/2 with prior knowledge when
// protocols names h2c. HTTP/1.1 is always on: Go's server, like Caddy's,
// cannot turn it off.
func (s *Server) newHTTPServer(h http.Handler, l *listener) *http.Server {
	lim := l.lim
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.HeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    int(lim.MaxHeaderSize),
		ErrorLog:          newStdLogger(s.log, "http server"),
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	switch {
	case l.https:
		srv.Protocols.SetHTTP2(l.protocols == nil || slices.Contains(l.protocols, "h2"))
	case slices.Contains(l.protocols, "h2c"):
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	return srv
}

// Listen binds every listener (and the admin API) and, with https sites,
// opens the certificate storage and gets the internal certificates. After
// it returns, Addrs reports the bound addresses.
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
	if s.tls != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := s.tls.Setup(ctx, s.tlsNames)
		cancel()
		if err != nil {
			s.closeListeners()
			return err
		}
	}
	for _, l := range s.listeners {
		if l.tls != nil {
			l.ln = certs.QuickAckListener{Listener: l.ln}
		}
		if l.proxyProto != nil {
			l.ln = &proxyproto.Listener{
				Listener:      l.ln,
				Allowed:       l.proxyProto.contains,
				HeaderTimeout: s.opts.ProxyHeaderTimeout,
				Log:           s.log.With().Str("component", "proxy_protocol").Logger(),
			}
		}
		var tc *tls.Config
		if l.tls != nil {
			tc = l.tls.Config()
			if !l.srv.Protocols.HTTP2() {
				// servers { protocols h1 }: do not offer h2 by ALPN.
				tc.NextProtos = slices.DeleteFunc(tc.NextProtos, func(p string) bool { return p == "h2" })
			}
			l.srv.TLSConfig = tc
		}
		// Handshakes (https) and HTTP/1.x framing are watched by the
		// listener: see framingConn.
		l.ln = newFramingListener(l.ln, tc, l.lim.HeaderTimeout, l.maxURI, s.log.With().Str("component", "edge").Logger())
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
	Gossip    string          `json:"gossip,omitempty"` // the cluster's gossip address, when in a cluster
	Listeners []ReadyListener `json:"listeners"`
}

// ReadyListener is one bound listener and the site addresses it serves.
type ReadyListener struct {
	Addr  string   `json:"addr"`
	Sites []string `json:"sites"`
	HTTPS bool     `json:"https,omitempty"`
}

// Addrs reports what Listen bound.
func (s *Server) Addrs() Ready {
	var r Ready
	for _, l := range s.listeners {
		if l.ln != nil {
			r.Listeners = append(r.Listeners, ReadyListener{Addr: l.ln.Addr().String(), Sites: l.sites, HTTPS: l.https})
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
	defer close(s.stopped)
	// The balancers' health loops run per config generation: a reload
	// stops the old ones and starts the new ones.
	startLoops := func(bs []*Balancer) (stop func()) {
		lctx, cancel := context.WithCancel(runCtx)
		var lwg sync.WaitGroup
		for _, b := range bs {
			lwg.Go(func() { _ = b.Run(lctx) })
		}
		return func() { cancel(); lwg.Wait() }
	}
	stopLoops := startLoops(s.balancers)
	defer func() { stopLoops() }()
	if s.opts.Cluster != nil {
		wg.Go(func() { s.runDiscovery(runCtx, s.opts.Cluster) })
		wg.Go(func() { s.runAgreement(runCtx, s.opts.Cluster) })
	} else if s.opts.Sessions != nil {
		s.opts.Sessions.SetPeers(nil) // alone: ready at once
	}
	if s.opts.Sessions != nil {
		wg.Go(func() { s.runMemberStates(runCtx) })
		wg.Go(func() { s.tableStats.run(runCtx) })
		s.opts.Sessions.SetStatsSource(s.countersSnapshot)
		defer s.opts.Sessions.SetStatsSource(nil)
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
	if s.tls != nil {
		s.tls.Start(runCtx) // ACME names, now that challenges can be answered
	}
	s.log.Info().Int("listeners", len(s.listeners)).Int("balancers", len(s.balancers)).Msg("serving")

	var err error
serving:
	for {
		select {
		case <-ctx.Done():
			break serving
		case err = <-errc:
			break serving
		case req := <-s.reloads:
			ns, perr := s.prepare(req.cfg)
			if perr != nil {
				s.log.Error().Err(perr).Msg("reload rejected: the running config stays")
				req.reply <- perr
				continue
			}
			stopLoops()
			s.apply(ns)
			stopLoops = startLoops(s.balancerList())
			if s.opts.Cluster != nil {
				s.applyView(s.opts.Cluster.View())
			}
			s.applyMemberStates()
			s.configChanged()
			s.log.Info().Int("balancers", len(s.balancerList())).Msg("config reloaded")
			req.reply <- nil
		}
	}
	s.shutdown()
	stopRun()
	wg.Wait()
	if s.tls != nil {
		s.tls.Stop()
	}
	// Release the config: its access logs once any request cut at the
	// shutdown timeout has ended, and every member's idle connections.
	for _, b := range s.balancerList() {
		s.gen.dropped = append(s.gen.dropped, b.set.Load().members...)
	}
	s.gen.retire()
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
			done := make(chan struct{})
			go l.fresh.closeWhile(done)
			defer close(done)
			if err := l.srv.Shutdown(ctx); err != nil {
				s.log.Warn().Err(err).Str("addr", l.addr).Msg("in-flight requests cut at shutdown timeout")
				l.srv.Close()
			}
		})
	}
	wg.Wait()
	if s.admin != nil {
		done := make(chan struct{})
		go s.admin.fresh.closeWhile(done)
		s.admin.srv.Shutdown(ctx)
		close(done)
	}
	s.log.Info().Msg("stopped")
}

// Balancer returns the balancer with that name, or nil.
func (s *Server) Balancer(name string) *Balancer {
	for _, b := range s.balancerList() {
		if b.name == name {
			return b
		}
	}
	return nil
}

// redirectHandler sends plain-HTTP requests for an https site to https on
// the HTTPS port, keeping host, path and query (308 keeps the method).
type redirectHandler struct{ httpsPort int }

func (h redirectHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if h.httpsPort != 443 {
		host = net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(h.httpsPort))
	}
	w.Header().Set("Connection", "close")
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
}

// adminListener is the admin API's listener; what it serves comes from
// Options.Admin.
type adminListener struct {
	addr  string
	ln    net.Listener
	srv   *http.Server
	fresh freshConns
	// proxyProto are the peers that must send a PROXY protocol header
	// (admin { proxy_protocol }); nil: off.
	proxyProto []netip.Prefix
	log        zerolog.Logger
}

func (a *adminListener) listen() error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("listen for admin: %w", err)
	}
	a.ln = ln
	if len(a.proxyProto) > 0 {
		a.ln = &proxyproto.Listener{
			Listener: ln,
			Allowed:  (&trustedProxies{prefixes: a.proxyProto}).contains,
			Log:      a.log.With().Str("component", "proxy_protocol").Str("listener", "admin").Logger(),
		}
	}
	return nil
}
