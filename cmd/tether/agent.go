package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/agent"
)

// cmdAgent runs beside a backend (package agent) until SIGTERM or SIGINT.
func cmdAgent(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	cluster := fs.String("cluster", "", "cluster name (required)")
	name := fs.String("name", "", "member name (default: $TETHER_NODE_NAME, else the hostname and the route, or the backend's port without one)")
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
	var discover discoverFlag
	fs.Var(&discover, "discover", `find the proxies as a cluster's discover does (repeatable): "ec2 tag=K=V port=7946 [region=R]", "s3 bucket=B [prefix=P]", "dns NAME [port=N]", "static HOST:PORT..."`)
	fs.String("c", "", "a Caddyfile whose global agent block sets these flags; flags given also override it")
	if path := configFlag(args); path != "" {
		fileArgs, err := agentFileArgs(path)
		if err != nil {
			return err
		}
		args = append(fileArgs, args...) // parsed in order: the command line wins
	}
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
	a, err := agent.Join(ctx, agent.Config{
		Cluster: *cluster, Name: agentName(*name, *route, u), Bind: *bind, Advertise: *advertise,
		Seeds: splitList(*join), Discover: discover, GossipKeys: splitList(*keys), Profile: *profile,
		Service: *service, Route: *route, URL: u, Domain: *domain, Weight: *weight,
		HealthURI: *healthURI, HealthInterval: *interval, DrainDelay: *drain,
		Build: buildVersion(), Log: log,
	})
	if err != nil {
		return err
	}
	if *ready != "" {
		if err := writeReady(*ready, map[string]any{"pid": os.Getpid(), "name": a.Name(), "addr": a.Addr().String()}); err != nil {
			stop()
			a.Run(ctx)
			return err
		}
	}
	return a.Run(ctx)
}

// agentName is an agent's member name: --name, else $TETHER_NODE_NAME,
// else the hostname with the route ("web-3-tomcat2"), or with the
// backend's port when it has no route, so that agents of several backends
// on one host (a vertical cluster) do not claim one name.
func agentName(flagValue, route string, u *url.URL) string {
	if flagValue != "" || os.Getenv("TETHER_NODE_NAME") != "" {
		return nodeName(flagValue)
	}
	suffix := route
	if suffix == "" {
		suffix = u.Port()
		if suffix == "" {
			suffix = u.Scheme
		}
	}
	return nodeName("") + "-" + suffix
}
