package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/proxy/ajp"
)

// cmdAgent runs beside a backend: it joins the cluster as a backend member
// advertising the backend's route, URL, service, domain and weight, keeps
// its health current, and on SIGTERM advertises draining before it leaves.
func cmdAgent(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	cluster := fs.String("cluster", "", "cluster name (required)")
	name := fs.String("name", "", "member name (default: $TETHER_NODE_NAME or the hostname)")
	bind := fs.String("bind", "0.0.0.0:7946", "gossip address")
	advertise := fs.String("advertise", "", "address others reach this agent at (ip[:port], or auto for EC2)")
	join := fs.String("join", "", "comma-separated seed addresses (host:port)")
	keys := fs.String("gossip-key", os.Getenv("TETHER_GOSSIP_KEY"), "gossip key(s), comma-separated; the first is used to send")
	profile := fs.String("profile", "lan", "timing profile: lan, wan or local")
	service := fs.String("service", "", "service the backend belongs to (discover cluster SERVICE)")
	route := fs.String("route", "", "the backend's route (jvmRoute)")
	rawURL := fs.String("url", "", "where the backend serves: http://host:port or ajp://host:port")
	domain := fs.String("domain", "", "replication group (mod_jk domain)")
	weight := fs.Int("weight", 1, "balancing weight (mod_jk lbfactor)")
	healthURI := fs.String("health-uri", "", "path to GET for health (http members); ajp members are checked with CPing")
	interval := fs.Duration("health-interval", 2*time.Second, "how often to check the backend")
	drain := fs.Duration("drain-delay", 2*time.Second, "on SIGTERM, how long to advertise draining before leaving")
	ready := fs.String("ready-file", "", "write {pid, name, addr} here as JSON once joined")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *cluster == "" || *service == "" || *rawURL == "" {
		return usageError{errors.New("--cluster, --service and --url are required")}
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ajp") || u.Host == "" {
		return usageError{fmt.Errorf("--url %q: want http://host:port or ajp://host:port", *rawURL)}
	}
	log, err := newLogger(stderr, config.Log{})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var ps []membership.Provider
	if seeds := splitList(*join); len(seeds) > 0 {
		p, err := membership.NewStatic(seeds)
		if err != nil {
			return fmt.Errorf("--join: %w", err)
		}
		ps = append(ps, p)
	}
	check := newBackendCheck(u, *healthURI)
	meta := membership.Meta{
		Role: membership.RoleBackend, Cluster: *cluster, Service: *service, Route: *route,
		URL: u.Scheme + "://" + u.Host, Domain: *domain, Weight: uint32(max(*weight, 1)),
		Healthy: check(ctx) == nil, Build: version,
	}
	cfg := membership.DefaultConfig()
	cfg.Name = nodeName(*name)
	cfg.Cluster = *cluster
	cfg.Bind = *bind
	cfg.Advertise = *advertise
	cfg.GossipKeys = splitList(*keys)
	cfg.Profile = *profile
	cfg.RejoinInterval, cfg.JoinTimeout, cfg.LeaveTimeout = 0, 0, 0
	cfg.Providers = ps
	cfg.Meta = meta
	cfg.Log = log
	c, err := membership.New(cfg)
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Go(func() { runErr <- c.Run(runCtx) })
	select {
	case <-c.Started():
	case err := <-runErr:
		return err
	}
	if *ready != "" {
		if err := writeReady(*ready, map[string]any{"pid": os.Getpid(), "name": cfg.Name, "addr": c.Addr().String()}); err != nil {
			return err
		}
	}
	log.Info().Str("name", cfg.Name).Str("addr", c.Addr().String()).Str("service", *service).Str("route", *route).Bool("healthy", meta.Healthy).Msg("agent joined")

	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			err := check(ctx)
			if healthy := err == nil; healthy != meta.Healthy {
				meta.Healthy = healthy
				if err := c.SetMeta(meta); err != nil {
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
	// SIGTERM: say we are draining so proxies stop sending new work, give
	// it time to spread, then leave gracefully.
	meta.State = membership.StateDraining
	if err := c.SetMeta(meta); err != nil {
		log.Error().Err(err).Msg("draining not advertised")
	}
	log.Info().Dur("drain_delay", *drain).Msg("draining")
	time.Sleep(*drain)
	stopRun()
	wg.Wait()
	log.Info().Msg("agent left")
	return nil
}

// newBackendCheck returns the local backend's health check: GET health-uri
// for http members (a TCP connect without one), CPing for ajp members.
func newBackendCheck(u *url.URL, healthURI string) func(context.Context) error {
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
