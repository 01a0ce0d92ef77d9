package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/replication"
)

// startProxyWithTable runs a Server for src with a session table of its
// own (no peers) and returns the table too.
func startProxyWithTable(t *testing.T, src string, opts Options) (*Server, string, *replication.Table) {
	t.Helper()
	if opts.Sessions == nil {
		tab, err := replication.New(replication.Config{NodeName: "p1", StatePath: filepath.Join(t.TempDir(), "states.json")})
		if err != nil {
			t.Fatal(err)
		}
		opts.Sessions = tab
	}
	opts.Logger = zerolog.New(t.Output())
	s, site := startProxyOpts(t, src, opts, opts.Sessions.Run)
	return s, site, opts.Sessions
}

// routelessBackend issues SID=<n> (no route) to a visitor without one, as a
// PHP or Node app does.
func routelessBackend(t *testing.T, route string, next *atomic.Int64) *backend {
	return newBackend(t, route, func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("SID"); err != nil {
			http.SetCookie(w, &http.Cookie{Name: "SID", Value: fmt.Sprintf("s%d", next.Add(1)), Path: "/"})
		}
		fmt.Fprintln(w, route)
	})
}

func getWithCookie(t *testing.T, url, cookie string) (route string, setCookie []string) {
	t.Helper()
	hdr := map[string]string{}
	if cookie != "" {
		hdr["Cookie"] = cookie
	}
	resp, _ := testpeers.Get(t, url, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s (%s): %s", url, cookie, resp.Status)
	}
	return resp.Header.Get("X-Route"), resp.Header.Values("Set-Cookie")
}

func cookieValue(setCookie []string, name string) string {
	for _, c := range setCookie {
		if v, ok := strings.CutPrefix(c, name+"="); ok {
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	return ""
}

func TestStickyLearnFollowsSetCookie(t *testing.T) {
	var next atomic.Int64
	a, b := routelessBackend(t, "a", &next), routelessBackend(t, "b", &next)
	srv, site, tab := startProxyWithTable(t, oneBalancer("a=http://"+a.hostport()+" b=http://"+b.hostport(), "\t\tsticky learn SID\n\t\tmax_fails 100"), Options{})

	// 20 visitors; each keeps landing where its session was created.
	owner := map[string]string{}
	for range 20 {
		route, sc := getWithCookie(t, site+"/", "")
		sid := cookieValue(sc, "SID")
		if sid == "" {
			t.Fatalf("no SID from %s: %v", route, sc)
		}
		owner[sid] = route
	}
	for sid, want := range owner {
		for range 3 {
			if got, _ := getWithCookie(t, site+"/", "SID="+sid); got != want {
				t.Fatalf("SID %s created on %s went to %s", sid, want, got)
			}
		}
		if got, ok := tab.Get("app", sid, time.Now()); !ok || got != want {
			t.Fatalf("table has SID %s → %q, %v; want %s", sid, got, ok, want)
		}
	}

	// Member a stopped: its sessions fail over to b and are pinned there,
	// so they stay on b when a comes back.
	if err := srv.Balancer("app").SetState("a", 2); err != nil { // stopped
		t.Fatal(err)
	}
	var moved []string
	for sid, was := range owner {
		if was != "a" {
			continue
		}
		if got, _ := getWithCookie(t, site+"/", "SID="+sid); got != "b" {
			t.Fatalf("SID %s of stopped a went to %s", sid, got)
		}
		moved = append(moved, sid)
	}
	if len(moved) == 0 {
		t.Fatal("no session was created on a")
	}
	if err := srv.Balancer("app").SetState("a", 0); err != nil {
		t.Fatal(err)
	}
	for _, sid := range moved {
		if got, _ := getWithCookie(t, site+"/", "SID="+sid); got != "b" {
			t.Fatalf("SID %s went back to a after failing over to b", sid)
		}
	}

	// A backend that expires the cookie ends the learned session.
	end := newBackend(t, "c", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "SID", Value: "", Path: "/", MaxAge: -1})
	})
	_, site2, tab2 := startProxyWithTable(t, oneBalancer("c=http://"+end.hostport(), "\t\tsticky learn SID"), Options{})
	if _, err := tab2.Set("app", "gone", "c", time.Now()); err != nil {
		t.Fatal(err)
	}
	getWithCookie(t, site2+"/", "SID=gone")
	if _, ok := tab2.Get("app", "gone", time.Now()); ok {
		t.Fatal("a Set-Cookie with Max-Age<0 did not end the learned session")
	}
}

func TestStickyCookieSignedAffinity(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	members := "a=http://" + a.hostport() + " b=http://" + b.hostport()
	key := []byte("0123456789abcdef0123456789abcdef")
	srv1, site1, _ := startProxyWithTable(t, oneBalancer(members, "\t\tsticky cookie TAFF"), Options{AffinityKey: key})
	_, site2, _ := startProxyWithTable(t, oneBalancer(members, "\t\tsticky cookie TAFF"), Options{AffinityKey: key})
	_, other, _ := startProxyWithTable(t, oneBalancer(members, "\t\tsticky cookie TAFF"), Options{AffinityKey: []byte("another cluster's key, 32 bytes!")})

	route, sc := getWithCookie(t, site1+"/", "")
	c := cookieValue(sc, "TAFF")
	if c == "" || !strings.Contains(strings.Join(sc, ";"), "HttpOnly") {
		t.Fatalf("no affinity cookie: %v", sc)
	}
	// Every proxy with the cluster key honours it, and does not reissue it.
	for _, site := range []string{site1, site2, site1, site2} {
		got, sc := getWithCookie(t, site+"/", "TAFF="+c)
		if got != route || len(sc) != 0 {
			t.Fatalf("cookie for %s: went to %s, Set-Cookie %v", route, got, sc)
		}
	}
	// A forged route, or another cluster's proxy, gets a fresh cookie.
	forged := strings.Replace(c, "."+route+".", "."+map[string]string{"a": "b", "b": "a"}[route]+".", 1)
	if _, sc := getWithCookie(t, site1+"/", "TAFF="+forged); cookieValue(sc, "TAFF") == "" {
		t.Fatal("a forged affinity cookie was accepted")
	}
	if _, sc := getWithCookie(t, other+"/", "TAFF="+c); cookieValue(sc, "TAFF") == "" {
		t.Fatal("a proxy with another key accepted the cookie")
	}
	// Its member stopped: the client moves and gets a cookie naming the
	// new member, with the same nonce.
	if err := srv1.Balancer("app").SetState(route, 2); err != nil {
		t.Fatal(err)
	}
	got, sc := getWithCookie(t, site1+"/", "TAFF="+c)
	nc := cookieValue(sc, "TAFF")
	if got == route || nc == "" || strings.SplitN(nc, ".", 2)[0] != strings.SplitN(c, ".", 2)[0] {
		t.Fatalf("after stopping %s: went to %s, new cookie %q (old %q)", route, got, nc, c)
	}
}

func TestFailoverPinHoldsAfterMemberReturns(t *testing.T) {
	a, b, c := newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)
	members := "a=http://" + a.hostport() + " b=http://" + b.hostport() + " c=http://" + c.hostport()
	srv, site, tab := startProxyWithTable(t, oneBalancer(members, ""), Options{})
	bal := srv.Balancer("app")
	if err := bal.SetState("a", 2); err != nil {
		t.Fatal(err)
	}
	first := map[string]string{}
	for i := range 50 {
		sid := fmt.Sprintf("S%03d.a", i)
		got, _ := getWithCookie(t, site+"/", "JSESSIONID="+sid)
		if got == "a" {
			t.Fatalf("%s went to stopped a", sid)
		}
		first[sid] = got
	}
	if n := tab.Len(); n != 50 {
		t.Fatalf("table holds %d pins, want 50", n)
	}
	if err := bal.SetState("a", 0); err != nil {
		t.Fatal(err)
	}
	for sid, want := range first {
		if got, _ := getWithCookie(t, site+"/", "JSESSIONID="+sid); got != want {
			t.Fatalf("%s failed over to %s, then went to %s when a returned", sid, want, got)
		}
	}
	// A session that never failed over still goes to a, and costs no pin.
	if got, _ := getWithCookie(t, site+"/", "JSESSIONID=NEW.a"); got != "a" {
		t.Fatalf("NEW.a went to %s", got)
	}
	if n := tab.Len(); n != 50 {
		t.Fatalf("table holds %d pins after sticky requests, want 50", n)
	}
}

// TestHealthzWaitsForSessionTable: a proxy that has no copy of the session
// table yet is not healthy (its /healthz answers 503, package admin).
func TestHealthzWaitsForSessionTable(t *testing.T) {
	tab, err := replication.New(replication.Config{NodeName: "p1", Bind: "127.0.0.1:0", SyncTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	src := oneBalancer("a=http://127.0.0.1:1", "")
	// Another proxy is in the cluster but cannot be reached: this one has
	// no copy of the table, so it must not take traffic.
	self := membership.Member{Name: "p1", Meta: membership.Meta{Role: membership.RoleProxy}}
	peer := membership.Member{Name: "p2", Addr: netip.MustParseAddrPort("127.0.0.1:7946"),
		Meta: membership.Meta{Role: membership.RoleProxy, Addr: ":1"}}
	view := &fixedView{v: &membership.View{Self: self, Members: []membership.Member{self, peer}}, ch: make(chan struct{})}
	srv, _, _ := startProxyWithTable(t, src, Options{Sessions: tab, Cluster: view})
	testpeers.WaitUntil(t, 5*time.Second, "the table given p2 as its peer from the view", func() bool { return tab.Stats().Peers == 1 })
	if err := srv.Healthy(); !errors.Is(err, ErrSyncing) {
		t.Fatalf("Healthy before sync = %v; want %v (healthz 503)", err, ErrSyncing)
	}
	// The operator sees why: the status says so.
	if sy := srv.Status().Sessions.Sync; sy == nil || sy.Ready || sy.Peers != 1 || sy.Connected != 0 {
		t.Fatalf("status sync before the copy: %+v", sy)
	}
	tab.SetPeers(nil) // p2 left: nobody to sync from, ready
	<-tab.Ready()
	if err := srv.Healthy(); err != nil {
		t.Fatalf("Healthy after sync = %v; want nil (healthz 200)", err)
	}
}

// FuzzSessionCookies feeds hostile Set-Cookie headers and affinity cookie
// values to their parsers: no panic, and a value that verifies is one the
// signer could have issued (it round-trips).
func FuzzSessionCookies(f *testing.F) {
	a := newAffinity([]byte("0123456789abcdef0123456789abcdef"))
	f.Add("SID=abc; Path=/; Max-Age=0", "n.r.sig")
	f.Add("SID=\"q\"; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "..")
	f.Add("SID", "nonce.tomcat1."+a.mac("app", "nonce", "tomcat1"))
	f.Fuzz(func(t *testing.T, header, value string) {
		if v, set, ok := setCookieValue([]string{header}, "SID"); ok && set && v == "" {
			t.Fatalf("set with an empty value from %q", header)
		}
		nonce, route, ok := a.verify("app", value)
		if ok && nonce+"."+route+"."+a.mac("app", nonce, route) != value {
			t.Fatalf("verified %q as (%q, %q), which does not round-trip", value, nonce, route)
		}
	})
}
