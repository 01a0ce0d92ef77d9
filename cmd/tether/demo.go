package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/demoapp"
	"github.com/tether-proxy/tether/proxy"
)

// demoConfig is the config `tether demo` runs: one site on plain HTTP and
// on https://localhost with Tether's internal CA, one balancer over three
// in-process app nodes, with active health checks so a stopped node is seen
// within seconds even without traffic.
const demoConfig = `{
	admin %s
	storage file "%s"
}

http://%s, https://%s {
	tls internal
	reverse_proxy {
		name demo
		to %s
		sticky jvmroute
		lb_policy round_robin
		health_uri /health
		health_interval 2s
		health_timeout 1s
		recover_time 5s
	}
}
`

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the demo site")
	httpsListen := fs.String("https", "localhost:8443", "address of the demo's https site (tls internal)")
	admin := fs.String("admin", "127.0.0.1:9180", "admin API address")
	control := fs.String("control", "127.0.0.1:9181", "address of the demo's backend control (stop/start a node)")
	ready := fs.String("ready-file", "", "write the bound addresses here as JSON once listening")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}

	store := demoapp.NewStore() // shared: the nodes replicate sessions, like a Tomcat cluster
	var backends []*demoapp.Backend
	var members []string
	for _, route := range []string{"tomcat1", "tomcat2", "tomcat3"} {
		b := &demoapp.Backend{Route: route, Store: store, Rename: true}
		if err := b.Start("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start demo backend %s: %w", route, err)
		}
		defer b.Stop()
		backends = append(backends, b)
		members = append(members, route+"=http://"+b.Addr())
	}

	src := fmt.Sprintf(demoConfig, *admin, dataDir(), *listen, *httpsListen, strings.Join(members, " "))
	cfg, err := config.Parse("demo.Caddyfile", []byte(src))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	log, err := newLogger(stderr, cfg.Global.Log)
	if err != nil {
		return err
	}

	ctl, err := net.Listen("tcp", *control)
	if err != nil {
		return fmt.Errorf("demo control: %w (choose another with --control)", err)
	}
	ctlSrv := &http.Server{Handler: demoControl(backends), ReadHeaderTimeout: 5 * time.Second}
	go ctlSrv.Serve(ctl)
	defer ctlSrv.Close()

	return serve(cfg, log, *ready, func(srv *proxy.Server, r proxy.Ready) {
		site := r.Listeners[0].Addr
		https := "https://" + *httpsListen
		for _, l := range r.Listeners {
			if l.HTTPS {
				_, port, _ := net.SplitHostPort(l.Addr)
				https = "https://localhost:" + port
			}
		}
		_, root, err := srv.InternalRoot(context.Background())
		if err != nil || root == "" {
			root = "(the internal CA root: " + fmt.Sprint(err) + ")"
		}
		fmt.Fprintf(stdout, demoIntro, site, r.Admin, strings.Join(routes(backends), ", "), site, site, site, site,
			ctl.Addr(), site, site, ctl.Addr(), r.Admin, r.Admin, https, root)
	})
}

const demoIntro = `
Tether demo is running.

  site           http://%[1]s/
  https site     %[14]s/ (tls internal: Tether's own CA)
  CA root        %[15]s
  status page    http://%[2]s/  (JSON: /api/status)
  app nodes      %[3]s (in this process; they replicate sessions like a Tomcat cluster)

Try it:

  # a new visitor gets JSESSIONID=<id>.<route>; the cookie jar keeps it sticky
  curl -s -c /tmp/tether-demo -b /tmp/tether-demo http://%[4]s/
  curl -s -c /tmp/tether-demo -b /tmp/tether-demo http://%[5]s/

  # the same site over HTTPS (HTTP/2), trusting the internal CA's root
  curl -s --cacert %[15]s %[14]s/

  # route by cookie or by ;jsessionid= path parameter, as mod_jk does
  curl -s -b 'JSESSIONID=ABC.tomcat2' http://%[6]s/
  curl -s 'http://%[7]s/app;jsessionid=ABC.tomcat3'

  # watch failover: stop the node your session is on, then ask again
  curl -s -X POST http://%[8]s/backends/tomcat1/stop
  curl -s -c /tmp/tether-demo -b /tmp/tether-demo http://%[9]s/
  curl -s -b 'JSESSIONID=ABC.tomcat1' http://%[10]s/
  curl -s -X POST http://%[11]s/backends/tomcat1/start

  # operator controls (mod_jk activation): disable or stop a member
  curl -s -X PUT -H 'X-Tether-Admin: 1' -d '{"state":"disabled"}' http://%[12]s/api/balancers/demo/members/tomcat2/state
  go run ./cmd/tether status --admin %[13]s

Stop with Ctrl-C.
`

func routes(bs []*demoapp.Backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Route + " (" + b.Addr() + ")"
	}
	return out
}

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
