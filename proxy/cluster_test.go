package proxy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/membership"
)

// fixedView is a cluster whose view the test sets.
type fixedView struct {
	v  *membership.View
	ch chan struct{}
}

func (f *fixedView) View() *membership.View { return f.v }
func (f *fixedView) Subscribe() (<-chan struct{}, func()) {
	return f.ch, func() {}
}

func backendMember(name, service, route, url string, healthy bool, st membership.State) membership.Member {
	return membership.Member{Name: name, Addr: netip.MustParseAddrPort("127.0.0.1:7946"), Meta: membership.Meta{
		Role: membership.RoleBackend, Service: service, Route: route, URL: url, Healthy: healthy, State: st, Weight: 1,
	}}
}

func TestDiscoveredMembers(t *testing.T) {
	static := newBackend(t, "static", nil)
	a := newBackend(t, "a", nil)
	b := newBackend(t, "b", nil)
	src := strings.Replace(oneBalancer("static=http://"+static.hostport(), "\t\tdiscover cluster app"),
		"admin off", "admin off\n\tcluster test {\n\t\tbind 127.0.0.1:0\n\t}", 1)
	s, site := startProxy(t, src, nil)
	bal := s.Balancer("app")

	v := &membership.View{Members: []membership.Member{
		backendMember("node-a", "app", "a", "http://"+a.hostport(), true, membership.StateActive),
		backendMember("node-b", "app", "b", "http://"+b.hostport(), true, membership.StateActive),
		backendMember("node-x", "other", "x", "http://127.0.0.1:1", true, membership.StateActive),
		backendMember("node-s", "app", "static", "http://127.0.0.1:1", true, membership.StateActive),
	}}
	if err := bal.SetDiscovered(discoveredFrom(v, "app")); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		var out []string
		for _, m := range s.Status().Balancers[0].Members {
			out = append(out, m.Name+"/"+m.Source+"/"+m.State)
		}
		return out
	}
	if got := names(); len(got) != 3 || got[0] != "static/config/active" || got[1] != "a/cluster/active" || got[2] != "b/cluster/active" {
		t.Fatalf("members after discovery = %v; want static (config), a and b (cluster), no other service, config name wins", got)
	}
	for _, route := range []string{"a", "b", "static"} {
		if resp, _ := testpeers.Get(t, site+"/", map[string]string{"Cookie": "JSESSIONID=x." + route}); resp.Header.Get("X-Route") != route {
			t.Errorf("session of %s went to %q", route, resp.Header.Get("X-Route"))
		}
	}
	first := bal.set.Load().members[1]

	// b drains, a stays: a keeps its member value (connections, counters).
	v2 := &membership.View{Members: []membership.Member{
		backendMember("node-a", "app", "a", "http://"+a.hostport(), true, membership.StateActive),
		backendMember("node-b", "app", "b", "http://"+b.hostport(), true, membership.StateDraining),
	}}
	bal.SetDiscovered(discoveredFrom(v2, "app"))
	if got := names(); len(got) != 3 || got[2] != "b/cluster/disabled" {
		t.Fatalf("members after b drains = %v; want b disabled", got)
	}
	if bal.set.Load().members[1] != first {
		t.Error("an unchanged discovered member was rebuilt; it must keep its state")
	}
	// b leaves.
	bal.SetDiscovered(discoveredFrom(&membership.View{Members: v2.Members[:1]}, "app"))
	if got := names(); len(got) != 2 {
		t.Fatalf("members after b left = %v; want static and a", got)
	}
}

// TestDiscoveredAJPMemberGetsClientInfo: an AJP member that only the
// cluster names (no configured AJP member in the balancer) still gets the
// client's address as the trusted proxies say it, as configured ones do.
func TestDiscoveredAJPMemberGetsClientInfo(t *testing.T) {
	static := newBackend(t, "static", nil)
	ajpM := newAJPMember(t)
	src := strings.Replace(oneBalancer("static=http://"+static.hostport(), "\t\tdiscover cluster app"),
		"admin off", "admin off\n\tcluster test {\n\t\tbind 127.0.0.1:0\n\t}", 1)
	src = strings.Replace(src, "http://127.0.0.1:0 {", "http://127.0.0.1:0 {\n\ttrusted_proxies 127.0.0.0/8", 1)
	s, site := startProxy(t, src, nil)
	v := &membership.View{Members: []membership.Member{
		backendMember("node-j", "app", "j", "ajp://"+ajpM.addr(), true, membership.StateActive),
	}}
	if err := s.Balancer("app").SetDiscovered(discoveredFrom(v, "app")); err != nil {
		t.Fatal(err)
	}
	testpeers.Get(t, site+"/", map[string]string{"Cookie": "JSESSIONID=x.j", "X-Forwarded-For": "203.0.113.9"})
	if got := ajpM.lastRemote(); got != "203.0.113.9" {
		t.Errorf("discovered AJP member got remote_addr %q; want the trusted X-Forwarded-For's 203.0.113.9", got)
	}
}
