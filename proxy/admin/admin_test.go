package admin

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/proxy"
)

// adminRequest sends method path to the admin listener with the given Host
// and returns the status.
func adminRequest(t *testing.T, admin, method, path, host string) int {
	t.Helper()
	var body io.Reader
	if method == http.MethodPut {
		body = strings.NewReader(`{"state":"disabled"}`)
	}
	req, err := http.NewRequest(method, admin+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("X-Tether-Admin", "1") // passes sameOrigin: only the Host is wrong
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// A page that rebinds its own name to 127.0.0.1 reaches the admin listener
// with its name in Host: every endpoint refuses it with 403 and nothing
// changes (no state change, no reload); loopback names, the listener's
// address and the names of admin { origins } pass.
func TestAdminRefusesRebindingHost(t *testing.T) {
	app := newBackend(t, "tomcat1", nil)
	extra := newBackend(t, "tomcat2", nil)
	mk := func(members string) string {
		return fmt.Sprintf("{\n\tadmin 127.0.0.1:0 {\n\t\torigins tether-admin.internal\n\t}\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy {\n\t\tname app\n\t\tto %s\n\t}\n}\n", members)
	}
	path := filepath.Join(t.TempDir(), "Caddyfile")
	src := mk("tomcat1=http://" + app.hostport())
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := startProxyOpts(t, src, proxy.Options{Logger: zerolog.New(t.Output()), ConfigPath: path})
	admin := "http://" + s.Addrs().Admin
	_, port, _ := net.SplitHostPort(s.Addrs().Admin)
	// A reload would add tomcat2: a refused POST /api/reload must not.
	if err := os.WriteFile(path, []byte(mk("tomcat1=http://"+app.hostport()+" tomcat2=http://"+extra.hostport())), 0o644); err != nil {
		t.Fatal(err)
	}

	const statePath = "/api/balancers/app/members/tomcat1/state"
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1.evil.example:" + port, "localhost.evil.example:" + port} {
		for _, ep := range []struct{ method, path string }{
			{http.MethodGet, "/api/status"},
			{http.MethodPut, statePath},
			{http.MethodPost, "/api/reload"},
			{http.MethodGet, "/healthz"},
			{http.MethodGet, "/metrics"},
			{http.MethodGet, "/"},
		} {
			if code := adminRequest(t, admin, ep.method, ep.path, host); code != http.StatusForbidden {
				t.Errorf("%s %s with Host %s = %d; want 403", ep.method, ep.path, host, code)
			}
		}
	}
	st := statusOf(t, admin)
	if n := len(st.Balancers[0].Members); n != 1 {
		t.Errorf("after refused reloads the balancer has %d members; want 1 (no reload)", n)
	}
	if got := st.Balancers[0].Members[0].State; got != "active" {
		t.Errorf("after refused state changes tomcat1 is %s; want active", got)
	}

	// HTTP/1.0 without Host names nothing.
	c, err := net.Dial("tcp", s.Addrs().Admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /api/status HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("HTTP/1.0 GET /api/status without Host = %d; want 403", resp.StatusCode)
	}

	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LocalHost", "status.localhost:" + port, "[::1]:" + port, "127.0.0.2", "tether-admin.internal:" + port, "Tether-Admin.Internal"} {
		if code := adminRequest(t, admin, http.MethodGet, "/api/status", host); code != http.StatusOK {
			t.Errorf("GET /api/status with Host %s = %d; want 200", host, code)
		}
	}
	if code := adminRequest(t, admin, http.MethodPut, statePath, "localhost:"+port); code != http.StatusOK {
		t.Errorf("PUT state with Host localhost = %d; want 200", code)
	}
	if code := adminRequest(t, admin, http.MethodPost, "/api/reload", "127.0.0.1:"+port); code != http.StatusOK {
		t.Errorf("POST /api/reload with Host 127.0.0.1 = %d; want 200", code)
	}
	if n := len(statusOf(t, admin).Balancers[0].Members); n != 2 {
		t.Errorf("after an allowed reload the balancer has %d members; want 2", n)
	}
}

func TestAdminHostsAllowed(t *testing.T) {
	instance := &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 9180}
	anyV4 := newAdminHosts("0.0.0.0", []string{"tether-admin.internal", "2001:db8::5"})
	named := newAdminHosts("admin.internal", nil)
	for _, tc := range []struct {
		name  string
		hosts adminHosts
		host  string
		local net.Addr
		want  bool
	}{
		{name: "loopback IP", hosts: anyV4, host: "127.0.0.1:9180", local: instance, want: true},
		{name: "loopback IPv6", hosts: anyV4, host: "[::1]:9180", local: instance, want: true},
		{name: "mapped loopback", hosts: anyV4, host: "[::ffff:127.0.0.1]:9180", local: instance, want: true},
		{name: "localhost", hosts: anyV4, host: "localhost", local: instance, want: true},
		{name: "sub.localhost", hosts: anyV4, host: "a.b.LOCALHOST:1", local: instance, want: true},
		{name: "ELB check to the instance IP", hosts: anyV4, host: "10.0.0.5:9180", local: instance, want: true},
		{name: "another IP of the instance's network", hosts: anyV4, host: "10.0.0.6:9180", local: instance, want: false},
		{name: "unspecified listen host is not a name", hosts: anyV4, host: "0.0.0.0:9180", local: &net.TCPAddr{IP: net.IPv4zero}, want: false},
		{name: "origin name", hosts: anyV4, host: "Tether-Admin.internal:9180", local: instance, want: true},
		{name: "origin IPv6", hosts: anyV4, host: "[2001:DB8::5]", local: instance, want: true},
		{name: "configured listen name", hosts: named, host: "admin.internal:9180", local: instance, want: true},
		{name: "rebinding name", hosts: anyV4, host: "evil.example:9180", local: instance, want: false},
		{name: "name ending like an origin", hosts: anyV4, host: "eviltether-admin.internal", local: instance, want: false},
		{name: "localhost as a label", hosts: anyV4, host: "localhost.evil.example", local: instance, want: false},
		{name: "empty", hosts: anyV4, host: "", local: instance, want: false},
		{name: "port only", hosts: anyV4, host: ":9180", local: instance, want: false},
		{name: "no local address", hosts: anyV4, host: "10.0.0.5", local: nil, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.hosts.allowed(tc.host, tc.local); got != tc.want {
				t.Errorf("allowed(%q, %v) = %v; want %v", tc.host, tc.local, got, tc.want)
			}
		})
	}
}
