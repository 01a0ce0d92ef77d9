package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy"
)

// backend is an in-process HTTP member that names itself in X-Route.
type backend struct {
	*httptest.Server
	route string
}

func newBackend(t *testing.T, route string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{route: route}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Route", route)
		if h != nil {
			h(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "hello from %s\n", route)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) hostport() string { return strings.TrimPrefix(b.URL, "http://") }

// startProxyOpts runs a proxy.Server for the Caddyfile text src, with this
// package's API on its admin listener, until the test ends; it returns the
// server and its first site's URL.
func startProxyOpts(t *testing.T, src string, opts proxy.Options) (*proxy.Server, string) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if opts.Admin == nil {
		opts.Admin = NewLogged(opts.Logger)
	}
	s, err := proxy.New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, "http://" + s.Addrs().Listeners[0].Addr
}

// adminProxy runs a server with an admin listener and one balancer "app"
// over the given members and returns it, its site and its admin base URL.
func adminProxy(t *testing.T, globals, members string) (*proxy.Server, string, string) {
	t.Helper()
	src := fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n%s}\nhttp://127.0.0.1:0 {\n\treverse_proxy {\n\t\tname app\n\t\tto %s\n\t}\n}\n", globals, members)
	s, site := startProxyOpts(t, src, proxy.Options{Logger: zerolog.New(t.Output())})
	return s, site, "http://" + s.Addrs().Admin
}
