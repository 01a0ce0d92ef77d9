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
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/node"
	"github.com/tether-proxy/tether/internal/sdnotify"
	"github.com/tether-proxy/tether/proxy"
	"github.com/tether-proxy/tether/proxy/admin"
)

// version and commit are set by release builds (make release):
// -ldflags "-X main.version=v1.2.3 -X main.commit=<full hash>". Without
// them, buildVersion reads the module version and versionString the VCS
// revision from the build info.
var version, commit = "", ""

const usage = `tether — a cluster-aware, session-sticky reverse-proxy load balancer

Usage:
  tether run [Caddyfile] [--ready-file PATH]      serve (default config: ./Caddyfile; -c FILE works too)
  tether validate [Caddyfile]                      check a config and print its warnings; exit 1 with
                                                    file:line:col on error
  tether demo [--listen ADDR] [--admin ADDRS] [--no-browser] [--ready-file PATH]
                                                    a local showcase: three proxies in a cluster, three app
                                                    nodes with jvmRoute sessions, the status page
  tether import-jk workers.properties [uriworkermap.properties] [--site ADDR] [--doc-root DIR]
                                                    print the Caddyfile equivalent of a mod_jk setup
  tether import-apache httpd.conf [--server-root DIR] [-D NAME]
                                                    print the Caddyfile of an Apache httpd configuration
                                                    (virtual hosts, mod_jk, mod_proxy_balancer, mod_ssl, ...)
  tether status [--admin ADDR]                      show balancers and members (admin API)
  tether sessions BALANCER ID [remove | move MEMBER] [--admin ADDR]
                                                    where a session goes and why; remove or move its pin
  tether set-state BALANCER MEMBER active|disabled|stopped [--admin ADDR]
  tether agent --cluster NAME --service SVC --url URL [--route R] [--join ADDR,...] ...
                                                    join the cluster as a backend member beside a backend
  tether keygen                                     print a new gossip key
  tether hash-password [--plaintext P]              print the bcrypt hash basic_auth takes
  tether version                                    version and build info

Every command takes -h for its own flags.
`

func main() {
	// For benchmarks that compare member clients in one run (bench/README.md).
	proxy.StdMemberClient = os.Getenv("TETHER_MEMBER_CLIENT") == "net/http"
	proxy.SetForwarder(os.Getenv("TETHER_FORWARD") != "off")
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
	if (cmd == "keygen" || cmd == "version") && len(rest) == 1 && isHelp(rest[0]) {
		fmt.Fprint(stdout, usage)
		return 0
	}
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
	case "sessions":
		err = cmdSessions(rest, stdout, stderr)
	case "import-jk":
		err = cmdImportJK(rest, stdout, stderr)
	case "import-apache":
		err = cmdImportApache(rest, stdout, stderr)
	case "agent":
		err = cmdAgent(rest, stderr)
	case "keygen":
		err = cmdKeygen(rest, stdout)
	case "hash-password":
		err = cmdHashPassword(rest, os.Stdin, stdout, stderr)
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

// usageError is a bad command line: exit 2. It wraps the flag package's
// error, so -h (flag.ErrHelp) is told apart and exits 0.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// buildVersion is what this binary says it is: the -ldflags version when
// set, else the module version from the build info (a tagged `go install`
// gives v1.2.3; a build from a checkout gives v0.0.0-date-rev or
// "(devel)"), plus the Go version and the VCS revision and state.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// versionString is `tether version`: the version, the commit the binary
// was built from (", modified" for a dirty tree) and the Go toolchain and
// platform, as in
//
//	tether v0.1.0 (commit 4f1c…, go1.26.8 linux/amd64)
func versionString() string {
	rev, modified := commit, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				if rev == "" {
					rev = kv.Value
				}
			case "vcs.modified":
				if kv.Value == "true" {
					modified = ", modified"
				}
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	return fmt.Sprintf("tether %s (commit %s%s, %s %s/%s)", buildVersion(), rev, modified, runtime.Version(), runtime.GOOS, runtime.GOARCH)
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

// logOutput opens where the process log goes (log { output ... }):
// stderr by default, stdout, nowhere, or a file opened for appending
// (created 0640), which logrotate's copytruncate can rotate.
func logOutput(stderr io.Writer, output string) (io.Writer, func(), error) {
	switch output {
	case "", "stderr":
		return stderr, func() {}, nil
	case "stdout":
		return os.Stdout, func() {}, nil
	case "discard":
		return io.Discard, func() {}, nil
	}
	f, err := os.OpenFile(output, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("log output: %w", err)
	}
	return f, func() { f.Close() }, nil
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

// configArg parses a command's flags and takes the config file from -c
// or the one positional argument (tether validate Caddyfile.example).
func configArg(fs *flag.FlagSet, args []string) (string, error) {
	path := fs.String("c", "Caddyfile", "config file (or give it as the argument)")
	fs.StringVar(path, "config", "Caddyfile", "config file (or give it as the argument)")
	if err := fs.Parse(args); err != nil {
		return "", usageError{err}
	}
	switch fs.NArg() {
	case 0:
	case 1:
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "c" || f.Name == "config" })
		if set && *path != fs.Arg(0) {
			return "", usageError{fmt.Errorf("two config files: -c %s and %s", *path, fs.Arg(0))}
		}
		*path = fs.Arg(0)
	default:
		return "", usageError{fmt.Errorf("unexpected arguments %q", fs.Args()[1:])}
	}
	return *path, nil
}

func cmdValidate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	path, err := configArg(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	if _, err := proxy.New(cfg, proxy.Options{Logger: zerolog.Nop(), Version: buildVersion(), CheckOnly: true, Admin: admin.New}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid (%d sites)\n", path, len(cfg.Sites))
	return nil
}

// cmdRun serves a config until SIGTERM or SIGINT; SIGHUP reloads it.
func cmdRun(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	ready := fs.String("ready-file", "", "write the bound addresses here as JSON once listening")
	name := fs.String("node-name", "", "this proxy's member name in the cluster (default: $TETHER_NODE_NAME or the hostname)")
	path, err := configArg(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	logOut, closeLog, err := logOutput(stderr, cfg.Global.Log.Output)
	if err != nil {
		return err
	}
	defer closeLog()
	log, err := newLogger(logOut, cfg.Global.Log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return node.Run(ctx, cfg, node.Options{
		Logger: log, Version: buildVersion(), Name: nodeName(*name), DataDir: dataDir(), ConfigPath: path,
		Reload: notifyReload(ctx),
		Notify: sdnotify.FromEnv(), // systemd's Type=notify (packaging/tether.service)
		Ready: func(_ *proxy.Server, addrs proxy.Ready) error {
			if *ready == "" {
				return nil
			}
			return writeReady(*ready, addrs)
		},
	})
}

// notifyReload turns SIGHUP into reloads until ctx ends. Signals that
// arrive while a reload runs are folded into the next one.
func notifyReload(ctx context.Context) <-chan struct{} {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()
	return reload
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
