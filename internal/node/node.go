package node

import (
	"context"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/sdnotify"
	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/proxy"
	"github.com/tether-proxy/tether/proxy/admin"
)

// Options are what a process gives a node besides its config.
type Options struct {
	// Logger receives the node's events.
	Logger zerolog.Logger
	// Version is this build's version, shown by the admin API and
	// advertised in the cluster metadata.
	Version string
	// Name is this proxy's member name in the cluster (and its node name in
	// the session table). Required.
	Name string
	// DataDir holds certificates, the internal CA, member states and the
	// local affinity key, unless the config names a storage directory.
	DataDir string
	// ConfigPath is the config file, read again by reloads; "" when the
	// config did not come from a file (no reloads).
	ConfigPath string
	// Reload reloads ConfigPath each time it receives (SIGHUP in tether
	// run). A bad file is logged with its file:line:col and the running
	// config stays. Nil: no reloads but through the admin API.
	Reload <-chan struct{}
	// Ready, if not nil, is called once the node is ready: listening, in
	// the cluster, and holding a full copy of the session table (until
	// then /healthz answers 503). An error stops the node and Run returns
	// it.
	Ready func(*proxy.Server, proxy.Ready) error
	// Notify, if not nil, tells the service manager how the node is doing
	// (systemd's Type=notify): READY=1 once ready (as Ready above),
	// RELOADING=1 then READY=1 around each reload from Reload, and
	// STOPPING=1 when ctx ends and the drain begins. A failed send is
	// logged and changes nothing else.
	Notify *sdnotify.Notifier
}

// Run runs one Tether node for cfg until ctx ends: it builds the session
// table, joins the cluster (with a cluster block), listens, reports ready,
// serves and reloads, and when ctx ends drains (healthz 503, drain_delay,
// in-flight requests within shutdown_timeout), leaves the cluster
// gracefully and stops replicating, in that order. It returns nil after a
// clean stop, or the error that stopped the node.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	log := opts.Logger
	popts := proxy.Options{Logger: log, Version: opts.Version, DataDir: opts.DataDir, ConfigPath: opts.ConfigPath, Admin: admin.NewLogged(log)}
	// Replication and membership outlive Serve's drain: they stop on
	// their own contexts, after it.
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()

	sessions, err := newSessionTable(bg, cfg, opts.Name, opts.DataDir, log)
	if err != nil {
		return err
	}
	popts.Sessions, popts.SessionStore, popts.AffinityKey = sessions.tab, sessions.store, sessions.affinityKey
	sessionsDone := make(chan error, 1)
	sessionsCtx, stopSessions := context.WithCancel(bg)
	defer func() {
		stopSessions() // last: after the cluster is left
		<-sessionsDone
	}()

	var cluster *membership.Cluster
	clusterCtx, leave := context.WithCancel(bg)
	defer leave()
	if cc := cfg.Global.Cluster; cc != nil {
		c, err := newProxyCluster(clusterCtx, cc, opts.Name, opts.Version, sessions.advertise, proxy.BalancerDigest(cfg), log)
		if err != nil {
			sessions.tab.Close()
			sessionsDone <- nil
			return err
		}
		cluster = c
		popts.Cluster = c
	}
	fail := func(err error) error {
		if cluster != nil {
			cluster.Close()
		}
		sessions.tab.Close()
		sessionsDone <- nil
		return err
	}
	srv, err := proxy.New(cfg, popts)
	if err != nil {
		return fail(err)
	}
	if err := srv.Listen(); err != nil {
		return fail(err)
	}
	go func() { sessionsDone <- sessions.tab.Run(sessionsCtx) }()
	addrs := srv.Addrs()
	addrs.PID = os.Getpid()
	if cluster != nil {
		clusterDone := make(chan error, 1)
		go func() { clusterDone <- cluster.Run(clusterCtx) }()
		select {
		case <-cluster.Started():
		case err := <-clusterDone:
			return fmt.Errorf("cluster: %w", err)
		}
		addrs.Gossip = cluster.Addr().String()
		log.Info().Str("node", opts.Name).Str("gossip", addrs.Gossip).Int("members", len(cluster.View().Members)).Msg("joined cluster")
		defer func() {
			leave() // after Serve drained: leave the cluster gracefully
			<-clusterDone
		}()
	}

	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx) }()

	// Ready once the session table is synced (Serve gives it its peers).
	select {
	case <-sessions.tab.Ready():
	case err := <-served:
		return err
	}
	for _, l := range addrs.Listeners {
		log.Info().Str("addr", l.Addr).Strs("sites", l.Sites).Msg("listening")
	}
	if addrs.Admin != "" {
		log.Info().Str("addr", addrs.Admin).Msg("admin api listening")
	}
	if opts.Ready != nil {
		if err := opts.Ready(srv, addrs); err != nil {
			stop()
			<-served
			return err
		}
	}
	notify := func(err error) {
		if err != nil {
			log.Warn().Err(err).Msg("service manager notification")
		}
	}
	status := fmt.Sprintf("serving %d listener(s)", len(addrs.Listeners))
	notify(opts.Notify.Ready(status))
	done := ctx.Done()
	for {
		select {
		case err := <-served:
			return err
		case <-done:
			done = nil // Serve drains on its own; tell systemd once
			notify(opts.Notify.Stopping())
		case <-opts.Reload:
			if opts.ConfigPath == "" {
				log.Warn().Msg("reload asked, but the config did not come from a file")
				continue
			}
			notify(opts.Notify.Reloading())
			if err := srv.ReloadFile(); err != nil {
				log.Error().Err(err).Msg("reload failed: the running config stays")
			}
			notify(opts.Notify.Ready(status))
		}
	}
}
