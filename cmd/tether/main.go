// Command tether is a TLS-terminating, cluster-aware reverse-proxy load
// balancer for session-holding application fleets. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/proxy"
	"github.com/tether-proxy/tether/proxy/admin"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `tether — a cluster-aware, session-sticky reverse-proxy load balancer

Usage:
  tether run [-c Caddyfile] [--ready-file PATH]   serve (default config: ./Caddyfile)
  tether validate [-c Caddyfile]                   check a config; exit 1 with file:line:col on error
  tether demo [--listen ADDR] [--admin ADDRS] [--no-browser] [--ready-file PATH]
                                                    a local showcase: three proxies in a cluster, three app
                                                    nodes with jvmRoute sessions, the status page
  tether import-jk workers.properties [uriworkermap.properties] [--site ADDR] [--doc-root DIR]
                                                    print the Caddyfile equivalent of a mod_jk setup
  tether status [--admin ADDR]                      show balancers and members (admin API)
  tether set-state BALANCER MEMBER active|disabled|stopped [--admin ADDR]
  tether agent --cluster NAME --service SVC --url URL [--route R] [--join ADDR,...] ...
                                                    join the cluster as a backend member beside a backend
  tether keygen                                     print a new gossip key
  tether version                                    version and build info
`

func main() {
	if path := os.Getenv("TETHER_CPUPROFILE"); path != "" {
		// For profiling under load (bench/README.md): a CPU profile of the
		// whole run, written when tether exits.
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			code := run(os.Args[1:], os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(rest, stderr)
	case "validate":
		err = cmdValidate(rest, stdout)
	case "demo":
		err = cmdDemo(rest, stdout, stderr)
	case "status":
		err = cmdStatus(rest, stdout)
	case "set-state":
		err = cmdSetState(rest, stdout)
	case "import-jk":
		err = cmdImportJK(rest, stdout, stderr)
	case "agent":
		err = cmdAgent(rest, stderr)
	case "keygen":
		err = cmdKeygen(rest, stdout)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tether: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "tether %s: %v\n", cmd, err)
			return 2
		}
		fmt.Fprintf(stderr, "tether %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func versionString() string {
	s := "tether " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		s += " (" + bi.GoVersion
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" {
				s += ", " + kv.Value
			}
		}
		s += ")"
	}
	return s
}

// newLogger is the root logger: JSON on stderr, or human-readable when
// stderr is a terminal (or format console).
func newLogger(w io.Writer, lc config.Log) (zerolog.Logger, error) {
	level := zerolog.InfoLevel
	if lc.Level != "" {
		l, err := zerolog.ParseLevel(lc.Level)
		if err != nil {
			return zerolog.Logger{}, fmt.Errorf("log level %q: %w", lc.Level, err)
		}
		level = l
	}
	out := w
	console := lc.Format == "console"
	if lc.Format == "" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), nil
}

// loadConfig loads a config file and prints its warnings (mod_jk
// attributes Tether does not honour, and the like) to stderr.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err // already file:line:col
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(os.Stderr, w)
	}
	return cfg, nil
}

func cmdValidate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	path := fs.String("c", "Caddyfile", "config file")
	fs.StringVar(path, "config", "Caddyfile", "config file")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if _, err := proxy.New(cfg, proxy.Options{Logger: zerolog.Nop(), Version: version, CheckOnly: true, Admin: admin.New}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid (%d sites)\n", *path, len(cfg.Sites))
	return nil
}

func cmdRun(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("c", "Caddyfile", "config file")
	fs.StringVar(path, "config", "Caddyfile", "config file")
	ready := fs.String("ready-file", "", "write the bound addresses here as JSON once listening")
	node := fs.String("node-name", "", "this proxy's member name in the cluster (default: $TETHER_NODE_NAME or the hostname)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.Global.Log)
	if err != nil {
		return err
	}
	return serveNode(cfg, log, *ready, nodeName(*node), *path, nil)
}

// serve runs a config until SIGTERM or SIGINT. started, if not nil, is
// called once the listeners are bound.
func serve(cfg *config.Config, log zerolog.Logger, readyFile string, started func(*proxy.Server, proxy.Ready)) error {
	return serveNode(cfg, log, readyFile, nodeName(""), "", started)
}

// serveNode is serve with this proxy's member name for the cluster. With a
// cluster block, the proxy joins before it reports ready and leaves after
// it has drained. It reports ready (the ready file, started) once the
// session table holds a full copy from the other proxies; until then
// /healthz answers 503.
func serveNode(cfg *config.Config, log zerolog.Logger, readyFile, node, configPath string, started func(*proxy.Server, proxy.Ready)) error {
	opts := proxy.Options{Logger: log, Version: version, DataDir: dataDir(), ConfigPath: configPath, Admin: admin.NewLogged(log)}
	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()

	sessions, err := newSessionTable(bg, cfg, node, log)
	if err != nil {
		return err
	}
	opts.Sessions, opts.SessionStore, opts.AffinityKey = sessions.tab, sessions.store, sessions.affinityKey
	sessionsDone := make(chan error, 1)
	sessionsCtx, stopSessions := context.WithCancel(bg)
	defer func() {
		stopSessions() // last: after the cluster is left
		<-sessionsDone
	}()
	runSessions := func() { go func() { sessionsDone <- sessions.tab.Run(sessionsCtx) }() }

	var cluster *membership.Cluster
	clusterCtx, leave := context.WithCancel(bg)
	defer leave()
	if cc := cfg.Global.Cluster; cc != nil {
		c, err := newProxyCluster(clusterCtx, cc, node, sessions.advertise, proxy.BalancerDigest(cfg), log)
		if err != nil {
			sessions.tab.Close()
			sessionsDone <- nil
			return err
		}
		cluster = c
		opts.Cluster = c
	}
	fail := func(err error) error {
		if cluster != nil {
			cluster.Close()
		}
		sessions.tab.Close()
		sessionsDone <- nil
		return err
	}
	srv, err := proxy.New(cfg, opts)
	if err != nil {
		return fail(err)
	}
	if err := srv.Listen(); err != nil {
		return fail(err)
	}
	runSessions()
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
		log.Info().Str("node", node).Str("gossip", addrs.Gossip).Int("members", len(cluster.View().Members)).Msg("joined cluster")
		defer func() {
			leave() // after Serve drained: leave the cluster gracefully
			<-clusterDone
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	// Ready once the session table is synced (Serve gives it its peers).
	select {
	case <-sessions.tab.Ready():
	case err := <-served:
		return err
	}
	if readyFile != "" {
		if err := writeReady(readyFile, addrs); err != nil {
			stop()
			<-served
			return err
		}
	}
	for _, l := range addrs.Listeners {
		log.Info().Str("addr", l.Addr).Strs("sites", l.Sites).Msg("listening")
	}
	if addrs.Admin != "" {
		log.Info().Str("addr", addrs.Admin).Msg("admin api listening")
	}
	if started != nil {
		started(srv, addrs)
	}
	if configPath != "" {
		// SIGHUP reloads the config file; a bad one is logged with its
		// file:line:col and the running config stays.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					if err := srv.ReloadFile(); err != nil {
						log.Error().Err(err).Msg("reload on SIGHUP failed")
					}
				}
			}
		}()
	}
	return <-served
}

// dataDir is where certificates, the internal CA and locks live without a
// storage directive: $TETHER_DATA, else $XDG_DATA_HOME/tether, else
// ~/.local/share/tether.
func dataDir() string {
	if d := os.Getenv("TETHER_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tether")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "tether")
	}
	return "tether-data"
}

// writeReady writes v as JSON to path atomically (write, then rename), so a
// reader never sees half a file.
func writeReady(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("ready file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	return nil
}
