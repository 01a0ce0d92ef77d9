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
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"text/template"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/agent"
	"github.com/tether-proxy/tether/internal/demoapp"
	"github.com/tether-proxy/tether/internal/node"
	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/proxy"
)

// `tether demo` runs, in one process, what a small production setup runs
// on several hosts: three proxies that form cluster "demo" over encrypted
// gossip on loopback and replicate their session table and member states,
// and three app nodes that join the cluster as backend members of service
// "app" (as `tether agent` does beside a real backend), which the proxies'
// balancer "demo" discovers.

// demoProxyConfig is the config of one demo proxy: one site on plain HTTP
// and on https://localhost with Tether's internal CA (the CA is shared by
// the three proxies through the storage directory), one balancer over the
// cluster's app nodes, with active health checks so a stopped node is seen
// within seconds even without traffic. The last argument is the discover
// line of proxies 2 and 3 (proxy1 is their seed).
const demoProxyConfig = `{
	admin %s
	storage file "%s"
	shutdown_timeout 5s
	cluster demo {
		bind 127.0.0.1:0
		gossip_key %s
		profile local
%s	}
}

http://%s, https://%s {
	tls internal
	reverse_proxy {
		name demo
		discover cluster app
		sticky jvmroute
		lb_policy round_robin
		health_uri /health
		health_interval 2s
		health_timeout 1s
		recover_time 5s
	}
}
`

// demoReady is what `tether demo --ready-file` writes once the three
// proxies are serving and each has discovered the three app nodes. Its
// top level is proxy1's proxy.Ready, as `tether run` writes it, so a
// script written for one proxy reads proxy1.
type demoReady struct {
	proxy.Ready
	Proxies  []demoReadyProxy   `json:"proxies"`
	Backends []demoReadyBackend `json:"backends"`
	Control  string             `json:"control"`
}

type demoReadyProxy struct {
	Name string `json:"name"`
	proxy.Ready
}

type demoReadyBackend struct {
	Route  string `json:"route"`
	Addr   string `json:"addr"`
	Gossip string `json:"gossip"`
}

var demoRoutes = []string{"tomcat1", "tomcat2", "tomcat3"}

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "http address of proxy1's site; proxy2 and proxy3 take the next two ports (port 0: each picks a free one), or give three, comma-separated")
	httpsListen := fs.String("https", "localhost:8443", "https address of proxy1's site (tls internal); proxies 2 and 3 as for --listen")
	adminAddrs := fs.String("admin", "127.0.0.1:9180,127.0.0.1:9182,127.0.0.1:9183", "admin API and status page addresses of proxy1, proxy2, proxy3 (one address: the next two ports for the others)")
	control := fs.String("control", "127.0.0.1:9181", "address of the demo's backend control (stop/start an app node)")
	ready := fs.String("ready-file", "", "write the bound addresses here as JSON once the cluster is up")
	noBrowser := fs.Bool("no-browser", false, "do not open the status page in a browser (it is opened only when stdout is a terminal)")
	data := fs.String("data", "", "keep certificates, the internal CA and member states in this directory (default: a temporary one, removed on exit)")
	verbose := fs.Bool("verbose", false, "log every proxy's and app node's events (default: warnings and errors only)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	d := &demo{}
	for i, f := range []struct{ name, value string }{{"listen", *listen}, {"https", *httpsListen}, {"admin", *adminAddrs}} {
		as, err := demoAddrs(f.value)
		if err != nil {
			return usageError{fmt.Errorf("--%s: %w", f.name, err)}
		}
		for p := range as {
			d.addrs[p][i] = as[p]
		}
	}
	var err error
	if d.key, err = membership.GenerateKey(); err != nil {
		return err
	}
	level := "warn"
	if *verbose {
		level = "info"
	}
	if d.log, err = newLogger(stderr, config.Log{Level: level}); err != nil {
		return err
	}
	d.dir, d.keep = *data, *data != ""
	if !d.keep {
		// The demo's CA, certificates and member states are its own: a
		// temporary directory, removed on exit (after the proxies stopped,
		// below), never the data of a real proxy ($TETHER_DATA).
		if d.dir, err = os.MkdirTemp("", "tether-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(d.dir)
	} else if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Starting the Tether demo: three proxies and three app nodes on loopback, files in %s ...\n", d.dir)
	// Ctrl-C (or SIGTERM) ends the demo: stop drains the proxies, then
	// takes the app nodes out of the cluster, whatever happened before.
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stopSignals()
	defer d.stop()
	if err := d.start(ctx, *control); err != nil || ctx.Err() != nil {
		return err
	}
	if *ready != "" {
		if err := writeReady(*ready, d.readyInfo()); err != nil {
			return err
		}
	}
	if err := d.intro(ctx, stdout); err != nil {
		return err
	}
	if !*noBrowser && isTerminal(stdout) && os.Getenv("CI") == "" {
		openBrowser("http://"+d.proxies[0].ready.Admin+"/", d.log)
	}
	return d.wait(ctx)
}

// demo is one run of `tether demo`: three app nodes, their control, and
// three proxies in a cluster.
type demo struct {
	addrs [3][3]string // per proxy: http, https, admin
	key   string       // the cluster's gossip key
	log   zerolog.Logger
	dir   string // the proxies' data directory (storage, member states) and the curl cookie jar
	keep  bool   // dir is --data's: it stays

	backends []*demoapp.Backend
	members  []*demoMember
	proxies  []*demoProxy
	ctl      net.Listener
	ctlSrv   *http.Server
}

// start starts the app nodes and their control, proxy1, the app nodes'
// memberships (joined through proxy1, as `tether agent --join` would), then
// proxies 2 and 3, and waits until every proxy has the three app nodes. It
// returns nil early when ctx ends.
func (d *demo) start(ctx context.Context, control string) error {
	store := demoapp.NewStore() // shared: the nodes replicate sessions, like a Tomcat cluster
	for _, route := range demoRoutes {
		b := &demoapp.Backend{Route: route, Store: store, Rename: true}
		if err := b.Start("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start demo backend %s: %w", route, err)
		}
		d.backends = append(d.backends, b)
	}
	ctl, err := net.Listen("tcp", control)
	if err != nil {
		return fmt.Errorf("demo control: %w (choose another with --control)", err)
	}
	d.ctl = ctl
	d.ctlSrv = &http.Server{Handler: demoControl(d.backends), ReadHeaderTimeout: 5 * time.Second}
	go d.ctlSrv.Serve(ctl)

	// proxy1 first: it is the seed the others join.
	if err := d.startProxy(0, ""); err != nil {
		return err
	}
	if err := d.waitStarted(ctx, d.proxies[0]); err != nil || ctx.Err() != nil {
		return err
	}
	seed := d.proxies[0].ready.Gossip
	for _, b := range d.backends {
		m, err := joinDemoBackend(ctx, b, d.key, seed, d.log)
		if err != nil {
			return fmt.Errorf("demo backend %s: %w", b.Route, err)
		}
		d.members = append(d.members, m)
	}
	for i := 1; i < 3; i++ {
		if err := d.startProxy(i, seed); err != nil {
			return err
		}
	}
	if err := d.waitStarted(ctx, d.proxies[1:]...); err != nil || ctx.Err() != nil {
		return err
	}
	return waitDiscovered(ctx, d.proxies, 30*time.Second)
}

// startProxy starts proxy i+1, joining the cluster through seed ("" for
// the first).
func (d *demo) startProxy(i int, seed string) error {
	discover := ""
	if seed != "" {
		discover = "\t\tdiscover static " + seed + "\n"
	}
	a := d.addrs[i]
	src := fmt.Sprintf(demoProxyConfig, a[2], d.dir, d.key, discover, a[0], a[1])
	cfg, err := config.Parse("demo.Caddyfile", []byte(src))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	name := "proxy" + strconv.Itoa(i+1)
	d.proxies = append(d.proxies, startDemoProxy(name, cfg, d.dir, d.log.With().Str("proxy", name).Logger()))
	return nil
}

// waitStarted waits until the proxies serve, one stops, or ctx ends (nil).
func (d *demo) waitStarted(ctx context.Context, ps ...*demoProxy) error {
	for _, p := range ps {
		select {
		case <-p.started:
		case <-p.done:
			switch {
			case ctx.Err() != nil: // Ctrl-C while it started
				return nil
			case errors.Is(p.err, syscall.EADDRINUSE):
				return fmt.Errorf("%s: %w (choose other addresses with --listen, --https, --admin)", p.name, p.err)
			case p.err != nil:
				return fmt.Errorf("%s: %w", p.name, p.err)
			}
			return fmt.Errorf("%s stopped while starting", p.name)
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// stop stops in order: the proxies (they drain), then the app nodes'
// memberships (they leave the cluster), the control and the app nodes.
func (d *demo) stop() {
	stopDemoProxies(d.proxies)
	for _, m := range d.members {
		m.leave()
	}
	if d.ctlSrv != nil {
		d.ctlSrv.Close()
	}
	for _, b := range d.backends {
		b.Stop()
	}
}

// readyInfo is the --ready-file content: every address the demo bound.
func (d *demo) readyInfo() demoReady {
	r := demoReady{Ready: d.proxies[0].ready, Control: d.ctl.Addr().String()}
	for _, p := range d.proxies {
		r.Proxies = append(r.Proxies, demoReadyProxy{Name: p.name, Ready: p.ready})
	}
	for i, b := range d.backends {
		r.Backends = append(r.Backends, demoReadyBackend{Route: b.Route, Addr: b.Addr(), Gossip: d.members[i].a.Addr().String()})
	}
	return r
}

// intro prints what to open and try.
func (d *demo) intro(ctx context.Context, stdout io.Writer) error {
	intro := demoIntroData{Control: d.ctl.Addr().String(), Jar: filepath.Join(d.dir, "cookies")}
	if d.keep {
		intro.Kept = d.dir
	}
	for _, p := range d.proxies {
		intro.Proxies = append(intro.Proxies, newDemoIntroProxy(p))
	}
	intro.Status = intro.Proxies[0].Admin
	for _, b := range d.backends {
		intro.Backends = append(intro.Backends, b.Route+" ("+b.Addr()+")")
	}
	_, root, err := d.proxies[0].srv.InternalRoot(ctx)
	if err != nil || root == "" {
		root = "(the internal CA root: " + fmt.Sprint(err) + ")"
	}
	intro.Root = root
	return demoIntro.Execute(stdout, intro)
}

// wait serves until Ctrl-C (nil), or until a proxy stops by itself.
func (d *demo) wait(ctx context.Context) error {
	anyDone := make(chan *demoProxy, len(d.proxies))
	for _, p := range d.proxies {
		go func() { <-p.done; anyDone <- p }()
	}
	select {
	case <-ctx.Done():
		return nil
	case p := <-anyDone:
		if p.err != nil {
			return fmt.Errorf("%s: %w", p.name, p.err)
		}
		return fmt.Errorf("%s stopped", p.name)
	}
}

// demoProxy is one of the demo's proxies, a node run in a goroutine.
type demoProxy struct {
	name    string
	stop    context.CancelFunc // ends its node.Run: it drains and leaves
	started chan struct{}      // closed once serving and synced; srv and ready are set
	done    chan struct{}      // closed when node.Run returned; err is set
	srv     *proxy.Server
	ready   proxy.Ready
	err     error
}

func startDemoProxy(name string, cfg *config.Config, dir string, log zerolog.Logger) *demoProxy {
	ctx, stop := context.WithCancel(context.Background())
	p := &demoProxy{name: name, stop: stop, started: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = node.Run(ctx, cfg, node.Options{
			Logger: log, Version: buildVersion(), Name: name, DataDir: dir,
			Ready: func(srv *proxy.Server, r proxy.Ready) error {
				p.srv, p.ready = srv, r
				close(p.started)
				return nil
			},
		})
	}()
	return p
}

// stopDemoProxies stops the proxies together and waits for them.
func stopDemoProxies(ps []*demoProxy) {
	for _, p := range ps {
		p.stop()
	}
	for _, p := range ps {
		<-p.done
	}
}

// waitDiscovered waits until every proxy's balancer has the three app
// nodes as members.
func waitDiscovered(ctx context.Context, ps []*demoProxy, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		missing := ""
		for _, p := range ps {
			if n := demoMembers(p.srv); n < len(demoRoutes) {
				missing = fmt.Sprintf("%s has found %d of %d app nodes", p.name, n, len(demoRoutes))
				break
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v, %s", d, missing)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func demoMembers(srv *proxy.Server) int {
	for _, b := range srv.Status().Balancers {
		if b.Name == "demo" {
			return len(b.Members)
		}
	}
	return 0
}

// demoMember is an app node's membership in the demo cluster: the agent
// `tether agent` runs beside a real backend, in process.
type demoMember struct {
	a    *agent.Agent
	stop context.CancelFunc
	done chan struct{}
}

// joinDemoBackend joins b to the demo cluster through seed as a backend
// member of service app, with b's route as member name, and keeps its
// advertised health current (checked every second). Its gossip logs only
// warnings: the proxies already log every membership change, and three
// more copies would bury the demo's terminal.
func joinDemoBackend(ctx context.Context, b *demoapp.Backend, key, seed string, log zerolog.Logger) (*demoMember, error) {
	log = log.With().Str("app_node", b.Route).Logger()
	quiet := log.Level(max(log.GetLevel(), zerolog.WarnLevel))
	a, err := agent.Join(ctx, agent.Config{
		Cluster: "demo", Name: b.Route, Bind: "127.0.0.1:0", Seeds: []string{seed},
		GossipKeys: []string{key}, Profile: membership.ProfileLocal,
		Service: "app", Route: b.Route, URL: &url.URL{Scheme: "http", Host: b.Addr()}, Weight: 1,
		HealthURI: "/health", HealthInterval: time.Second,
		Build: buildVersion(), Log: log, GossipLog: &quiet,
	})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	m := &demoMember{a: a, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		_ = a.Run(runCtx)
	}()
	return m, nil
}

// leave leaves the cluster gracefully and waits.
func (m *demoMember) leave() {
	m.stop()
	<-m.done
}

// demoAddrs expands a demo address flag into one address per proxy: three
// comma-separated addresses, or one, whose port the other proxies follow
// with the next two (port 0 stays 0: each proxy picks a free port).
func demoAddrs(v string) ([3]string, error) {
	var out [3]string
	parts := splitList(v)
	switch len(parts) {
	case 3:
		for i, p := range parts {
			if _, _, err := net.SplitHostPort(p); err != nil {
				return out, err
			}
			out[i] = p
		}
		return out, nil
	case 1:
		host, port, err := net.SplitHostPort(parts[0])
		if err != nil {
			return out, err
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535-2 {
			return out, fmt.Errorf("port %q: want a number from 0 to 65533", port)
		}
		for i := range out {
			p := n
			if n != 0 {
				p += i
			}
			out[i] = net.JoinHostPort(host, strconv.Itoa(p))
		}
		return out, nil
	}
	return out, fmt.Errorf("%q: want one address or three, comma-separated", v)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// openBrowser opens url in the desktop's browser, if there is a desktop:
// xdg-open needs a display (without one it may start a text browser on
// this terminal), macOS has open. Failing to open is not an error: the
// URL is printed.
func openBrowser(url string, log zerolog.Logger) {
	var name string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "linux", "freebsd", "openbsd", "netbsd":
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return
		}
		name = "xdg-open"
	default:
		return
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return
	}
	cmd := exec.Command(bin, url) // stdin, stdout and stderr: /dev/null
	if err := cmd.Start(); err != nil {
		log.Debug().Err(err).Msg("browser not opened")
		return
	}
	go cmd.Wait() // reap it; xdg-open returns once the browser has it
}

type demoIntroData struct {
	Status   string // proxy1's admin address
	Proxies  []demoIntroProxy
	Backends []string
	Control  string
	Root     string
	Jar      string // curl's cookie jar in the examples
	Kept     string // the --data directory, which stays after the demo
}

type demoIntroProxy struct {
	Name, Site, HTTPS, Admin string
}

func newDemoIntroProxy(p *demoProxy) demoIntroProxy {
	ip := demoIntroProxy{Name: p.name, Admin: p.ready.Admin}
	for _, l := range p.ready.Listeners {
		if l.HTTPS {
			_, port, _ := net.SplitHostPort(l.Addr)
			ip.HTTPS = "https://localhost:" + port
		} else if ip.Site == "" {
			ip.Site = l.Addr
		}
	}
	return ip
}

var demoIntro = template.Must(template.New("intro").Parse(`
  open http://{{.Status}}/    the status page: the demo cluster, live

Tether demo is running: three proxies in cluster "demo" (gossip on loopback, encrypted with a key
generated for this run) and three app nodes that joined it as backend members of service "app".
{{range .Proxies}}
  {{.Name}}   site http://{{.Site}}/   {{.HTTPS}}/   status page http://{{.Admin}}/{{end}}

  app nodes  {{range $i, $b := .Backends}}{{if $i}}, {{end}}{{$b}}{{end}}
             (in this process; the proxies find them through the cluster; they replicate
             sessions like a Tomcat cluster)
  CA root    {{.Root}}
             (the https sites use Tether's internal CA)
{{with $p1 := index .Proxies 0}}{{with $p2 := index $.Proxies 1}}{{with $p3 := index $.Proxies 2}}
Try it:

  # a new visitor gets JSESSIONID=<id>.<route>; the cookie jar keeps it sticky
  curl -s -c {{$.Jar}} -b {{$.Jar}} http://{{$p1.Site}}/
  curl -s -c {{$.Jar}} -b {{$.Jar}} http://{{$p1.Site}}/

  # every proxy of the cluster routes the session the same way
  curl -s -c {{$.Jar}} -b {{$.Jar}} http://{{$p2.Site}}/
  curl -s -c {{$.Jar}} -b {{$.Jar}} http://{{$p3.Site}}/

  # the same site over HTTPS (HTTP/2), trusting the internal CA's root
  curl -s --cacert {{$.Root}} {{$p1.HTTPS}}/

  # route by cookie or by ;jsessionid= path parameter, as mod_jk does
  curl -s -b 'JSESSIONID=ABC.tomcat2' http://{{$p1.Site}}/
  curl -s 'http://{{$p1.Site}}/app;jsessionid=ABC.tomcat3'

  # watch failover: stop the node your session is on, then ask again
  curl -s -X POST http://{{$.Control}}/backends/tomcat1/stop
  curl -s -c {{$.Jar}} -b {{$.Jar}} http://{{$p1.Site}}/
  curl -s -b 'JSESSIONID=ABC.tomcat1' http://{{$p1.Site}}/
  curl -s -X POST http://{{$.Control}}/backends/tomcat1/start

  # operator controls (mod_jk activation): disable a member through proxy1 (or with its
  # "disable" button on the status page); all three proxies apply it and keep it across
  # restarts (set it back with {"state":"active"})
  curl -s -X PUT -H 'X-Tether-Admin: 1' -d '{"state":"disabled"}' http://{{$p1.Admin}}/api/balancers/demo/members/tomcat2/state
  go run ./cmd/tether status --admin {{$p3.Admin}}
{{end}}{{end}}{{end}}
{{if .Kept}}Stop with Ctrl-C ({{.Kept}} stays, as --data asked).{{else}}Stop with Ctrl-C: the demo removes its files on the way out.{{end}}
Every proxy's events: run it with --verbose.
`))

// demoControl lets a newcomer stop and start demo nodes to watch failover:
// POST /backends/{route}/stop|start, GET /backends.
func demoControl(bs []*demoapp.Backend) http.Handler {
	find := func(route string) *demoapp.Backend {
		for _, b := range bs {
			if b.Route == route {
				return b
			}
		}
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backends", func(w http.ResponseWriter, r *http.Request) {
		for _, b := range bs {
			state := "running"
			if !b.Running() {
				state = "stopped"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d requests\n", b.Route, b.Addr(), state, b.Requests())
		}
	})
	mux.HandleFunc("POST /backends/{route}/{action}", func(w http.ResponseWriter, r *http.Request) {
		b := find(r.PathValue("route"))
		if b == nil {
			http.Error(w, "no such backend", http.StatusNotFound)
			return
		}
		switch r.PathValue("action") {
		case "stop":
			b.Stop()
			fmt.Fprintf(w, "%s stopped (its connections dropped, as in a crash)\n", b.Route)
		case "start":
			if err := b.Start(""); err != nil && !errors.Is(err, context.Canceled) {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			fmt.Fprintf(w, "%s started on %s\n", b.Route, b.Addr())
		default:
			http.Error(w, "action is stop or start", http.StatusBadRequest)
		}
	})
	return mux
}
