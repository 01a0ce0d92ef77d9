package node

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/sdnotify"
	"github.com/tether-proxy/tether/proxy"
)

// TestNotifySystemd runs a node with a notify socket of the test's own, as
// systemd gives a Type=notify service: READY=1 arrives once the node
// serves, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a reload
// that changed what it serves, and STOPPING=1 when it is told to stop.
func TestNotifySystemd(t *testing.T) {
	dir, err := os.MkdirTemp("", "sdn") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read notify socket: %v", err)
		}
		t.Logf("NOTIFY_SOCKET got %q", buf[:n])
		return string(buf[:n])
	}

	conf := func(body string) string {
		return "{\n\tadmin off\n\tlog {\n\t\tlevel warn\n\t}\n}\n\nhttp://127.0.0.1:0 {\n\trespond \"" + body + "\"\n}\n"
	}
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(conf("one")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	reload := make(chan struct{})
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{
			Logger: zerolog.New(t.Output()), Name: "n1", DataDir: t.TempDir(), ConfigPath: path,
			Reload: reload, Notify: sdnotify.New(sock),
			Ready: func(_ *proxy.Server, r proxy.Ready) error { addr <- r.Listeners[0].Addr; return nil },
		})
	}()

	if got := next(); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("first notification %q; want READY=1", got)
	}
	url := "http://" + <-addr + "/"
	if body := get(t, url); body != "one" {
		t.Fatalf("GET %s = %q before the reload; want one", url, body)
	}

	if err := os.WriteFile(path, []byte(conf("two")), 0o644); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	if got := next(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("notification after reload asked: %q; want RELOADING=1 and MONOTONIC_USEC", got)
	}
	if got := next(); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("notification after reload: %q; want READY=1", got)
	}
	if body := get(t, url); body != "two" {
		t.Errorf("GET %s = %q after READY=1 followed RELOADING=1; want the reloaded two", url, body)
	}

	cancel()
	if got := next(); !strings.HasPrefix(got, "STOPPING=1\n") {
		t.Fatalf("notification on stop: %q; want STOPPING=1", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil after a clean stop", err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
