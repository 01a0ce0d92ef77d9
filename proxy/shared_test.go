package proxy

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/routing"
)

// TestSharedWorkerAcrossSites: one mod_jk worker mounted by two sites (two
// virtual hosts importing one workers.properties) is one balancer: one
// entry in the status, one state, one set of counters; a member disabled
// through it is disabled for both sites, each of which keeps its own
// mounts.
func TestSharedWorkerAcrossSites(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	config.ExpandImportJK = func(s *config.Site) error {
		bal := config.DefaultBalancer()
		bal.Name, bal.Source = "lb", "/etc/jk/workers.properties#lb"
		bal.LBPolicy = "least_requests"
		bal.Members = []config.Member{{Name: "a", URL: a.URL}, {Name: "b", URL: b.URL}}
		bal.Paths = []string{"/" + strings.TrimSuffix(filepath.Base(s.ImportJK.URIWorkers), ".properties") + "/*"}
		s.Balancers = append(s.Balancers, bal)
		return nil
	}
	t.Cleanup(func() { config.ExpandImportJK = nil })
	ports, err := testpeers.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := startProxy(t, fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:%d {
	import_jk w.properties one.properties
}
http://127.0.0.1:%d {
	import_jk w.properties two.properties
}
`, ports[0], ports[1]), nil)
	if n := len(srv.balancerList()); n != 1 {
		t.Fatalf("balancers = %d; want 1 (the worker lb of both sites)", n)
	}
	if st := srv.Status(); len(st.Balancers) != 1 || st.Balancers[0].Name != "lb" {
		t.Fatalf("status balancers = %+v; want lb once", st.Balancers)
	}
	one := "http://" + srv.Addrs().Listeners[0].Addr
	two := "http://" + srv.Addrs().Listeners[1].Addr
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Route")
	}
	// Each site its own mounts.
	if code, _ := get(one + "/two/x"); code != http.StatusNotFound {
		t.Errorf("GET site one /two/x = %d; want 404 (site one mounts /one/*)", code)
	}
	if code, _ := get(two + "/two/x"); code != http.StatusOK {
		t.Errorf("GET site two /two/x = %d; want 200", code)
	}
	if err := srv.Balancer("lb").SetState("a", routing.Disabled); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		for _, u := range []string{one + "/one/x", two + "/two/x"} {
			if code, route := get(u); code != 200 || route != "b" {
				t.Fatalf("request %d to %s with a disabled = %d from %q; want 200 from b", i, u, code, route)
			}
		}
	}
	st := srv.Status().Balancers[0]
	var total uint64
	for _, m := range st.Members {
		total += m.Requests
	}
	if total != 13 { // the first 200 above, then 12
		t.Errorf("requests counted by the one balancer = %d; want 13 (both sites' requests)", total)
	}
}
