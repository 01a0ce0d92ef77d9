package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/proxy/ajp"
)

// Config is one backend's agent.
type Config struct {
	// Cluster is the cluster name; Name the agent's member name (unique in
	// the cluster).
	Cluster, Name string
	// Bind is the gossip address (default 0.0.0.0:7946), Advertise the
	// address others reach the agent at (ip[:port], or auto on EC2).
	Bind, Advertise string
	// Seeds are the addresses joined (host:port); none: wait to be joined.
	Seeds []string
	// Discover are providers that find the proxies, as a proxy's cluster
	// discover does (ec2 by tag, an s3 registry, dns, static): in an Auto
	// Scaling group nobody knows the proxies' addresses in advance. They
	// are asked at the start and every rejoin interval, with Seeds.
	Discover []membership.DiscoverSpec
	// GossipKeys are the cluster's keys, base64; the first sends.
	GossipKeys []string
	// Profile is the timing profile: lan (default), wan or local.
	Profile string

	// What the agent advertises about its backend: the service it belongs
	// to (discover cluster SERVICE), its route (jvmRoute), where it serves
	// (http, https or ajp URL; only scheme and host are kept), its mod_jk
	// domain and weight.
	Service, Route, Domain string
	URL                    *url.URL
	Weight                 int

	// HealthURI is the path checked with GET on an http member (a TCP
	// connect without one); ajp members are checked with CPing. The check
	// runs every HealthInterval (default 2s).
	HealthURI      string
	HealthInterval time.Duration
	// DrainDelay is how long the agent advertises draining before it
	// leaves, so that proxies stop sending new work first.
	DrainDelay time.Duration

	// Build is the version advertised in the metadata.
	Build string
	// Log receives the agent's events; GossipLog, when set, the
	// membership's (the demo quiets those).
	Log       zerolog.Logger
	GossipLog *zerolog.Logger
}

// Agent is a joined backend member.
type Agent struct {
	cfg   Config
	c     *membership.Cluster
	check func(context.Context) error
	meta  membership.Meta

	stop   context.CancelFunc // ends the membership's Run: leave
	wg     sync.WaitGroup
	runErr chan error
}

// Join checks the backend once, joins the cluster advertising it, and
// returns once the membership runs. Call Run next (it leaves at the end).
func Join(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.Cluster == "" || cfg.Service == "" || cfg.URL == nil {
		return nil, errors.New("agent: cluster, service and url are required")
	}
	u := cfg.URL
	if (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ajp") || u.Host == "" {
		return nil, fmt.Errorf("agent: url %q: want http://host:port or ajp://host:port", u)
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 2 * time.Second
	}
	var ps []membership.Provider
	if len(cfg.Seeds) > 0 {
		p, err := membership.NewStatic(cfg.Seeds)
		if err != nil {
			return nil, fmt.Errorf("seeds: %w", err)
		}
		ps = append(ps, p)
	}
	for _, d := range cfg.Discover {
		p, err := membership.NewProvider(ctx, d, cfg.Log)
		if err != nil {
			return nil, err // names the provider
		}
		ps = append(ps, p)
	}
	a := &Agent{cfg: cfg, check: backendCheck(u, cfg.HealthURI), runErr: make(chan error, 1)}
	a.meta = membership.Meta{
		Role: membership.RoleBackend, Cluster: cfg.Cluster, Service: cfg.Service, Route: cfg.Route,
		URL: u.Scheme + "://" + u.Host, Domain: cfg.Domain, Weight: uint32(max(cfg.Weight, 1)),
		Healthy: a.check(ctx) == nil, Build: cfg.Build,
	}
	mc := membership.DefaultConfig()
	mc.Name, mc.Cluster, mc.Advertise = cfg.Name, cfg.Cluster, cfg.Advertise
	if cfg.Bind != "" {
		mc.Bind = cfg.Bind
	}
	if cfg.Profile != "" {
		mc.Profile = cfg.Profile
	}
	mc.GossipKeys, mc.Providers, mc.Meta, mc.Log = cfg.GossipKeys, ps, a.meta, cfg.Log
	if cfg.GossipLog != nil {
		mc.Log = *cfg.GossipLog
	}
	c, err := membership.New(mc)
	if err != nil {
		return nil, err
	}
	a.c = c
	runCtx, stop := context.WithCancel(context.Background())
	a.stop = stop
	a.wg.Go(func() { a.runErr <- c.Run(runCtx) })
	select {
	case <-c.Started():
	case err := <-a.runErr:
		stop()
		return nil, err
	}
	cfg.Log.Info().Str("name", c.View().Self.Name).Str("addr", c.Addr().String()).Str("service", cfg.Service).
		Str("route", cfg.Route).Bool("healthy", a.meta.Healthy).Msg("agent joined")
	return a, nil
}

// Addr is the agent's gossip address.
func (a *Agent) Addr() netip.AddrPort { return a.c.Addr() }

// Name is the agent's member name.
func (a *Agent) Name() string { return a.c.View().Self.Name }

// Run keeps the advertised health current until ctx ends, then advertises
// draining, waits DrainDelay, and leaves the cluster gracefully.
func (a *Agent) Run(ctx context.Context) error {
	log := a.cfg.Log
	tick := time.NewTicker(a.cfg.HealthInterval)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			err := a.check(ctx)
			if healthy := err == nil; healthy != a.meta.Healthy && ctx.Err() == nil {
				a.meta.Healthy = healthy
				if err := a.c.SetMeta(a.meta); err != nil {
					log.Error().Err(err).Msg("health not advertised")
				}
				ev := log.Info()
				if !healthy {
					ev = log.Warn().Err(err)
				}
				ev.Bool("healthy", healthy).Msg("backend health changed")
			}
		}
	}
	if a.cfg.DrainDelay > 0 {
		a.meta.State = membership.StateDraining
		if err := a.c.SetMeta(a.meta); err != nil {
			log.Error().Err(err).Msg("draining not advertised")
		}
		log.Info().Dur("drain_delay", a.cfg.DrainDelay).Msg("draining")
		time.Sleep(a.cfg.DrainDelay)
	}
	a.stop()
	a.wg.Wait()
	log.Info().Msg("agent left")
	return nil
}

// backendCheck returns the local backend's health check: GET healthURI for
// http members (a TCP connect without one), CPing for ajp members.
func backendCheck(u *url.URL, healthURI string) func(context.Context) error {
	const timeout = 2 * time.Second
	switch {
	case u.Scheme == "ajp":
		t, _ := ajp.New(ajp.DefaultConfig())
		return func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return t.Ping(ctx, u.Host)
		}
	case healthURI != "":
		c := &http.Client{Timeout: timeout}
		target := u.Scheme + "://" + u.Host + healthURI
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return err
			}
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode >= 400 {
				return fmt.Errorf("health status %d", resp.StatusCode)
			}
			return nil
		}
	}
	return func(ctx context.Context) error {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}
