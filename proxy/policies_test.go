package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/routing"
)

// routeOf sends one GET with the given headers and returns the member
// that answered.
func routeWith(t *testing.T, url string, hdr map[string]string) string {
	t.Helper()
	resp, _ := testpeers.Get(t, url, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s %v: %s", url, hdr, resp.Status)
	}
	return resp.Header.Get("X-Route")
}

// TestCaddyPolicies: Caddy's other balancing policies, through real
// members: first, uri_hash, header and query (the same key to the same
// member on two proxies whose members are listed in other orders, a
// fallback for requests without a key), weighted_round_robin's weights,
// random_choose's least busy draw, and sessions before all of them.
func TestCaddyPolicies(t *testing.T) {
	a, b, c := newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)
	abc := "a=http://" + a.hostport() + " b=http://" + b.hostport() + " c=http://" + c.hostport()
	cba := "c=http://" + c.hostport() + " b=http://" + b.hostport() + " a=http://" + a.hostport()

	t.Run("first", func(t *testing.T) {
		srv, site := startProxy(t, oneBalancer(abc, "\t\tlb_policy first"), nil)
		for range 5 {
			if got := routeWith(t, site+"/", nil); got != "a" {
				t.Fatalf("lb_policy first went to %s; want a, the first member", got)
			}
		}
		if err := srv.Balancer("app").SetState("a", routing.Stopped); err != nil {
			t.Fatal(err)
		}
		if got := routeWith(t, site+"/", nil); got != "b" {
			t.Errorf("lb_policy first with a stopped went to %s; want b", got)
		}
		if got := routeWith(t, site+"/", map[string]string{"Cookie": "JSESSIONID=s1.c"}); got != "c" {
			t.Errorf("a session of c under lb_policy first went to %s; want c (sessions first)", got)
		}
	})

	for _, tc := range []struct {
		policy string
		req    func(k int) (path string, hdr map[string]string)
	}{
		{"uri_hash", func(k int) (string, map[string]string) { return fmt.Sprintf("/item/%d", k), nil }},
		{"header X-Tenant", func(k int) (string, map[string]string) {
			return "/", map[string]string{"X-Tenant": fmt.Sprintf("tenant-%d", k)}
		}},
		{"query tenant", func(k int) (string, map[string]string) { return fmt.Sprintf("/?x=1&tenant=t%d", k), nil }},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			_, one := startProxy(t, oneBalancer(abc, "\t\tlb_policy "+tc.policy), nil)
			_, two := startProxy(t, oneBalancer(cba, "\t\tlb_policy "+tc.policy), nil)
			spread := map[string]int{}
			for k := range 60 {
				path, hdr := tc.req(k)
				got := routeWith(t, one+path, hdr)
				for range 2 {
					if again := routeWith(t, one+path, hdr); again != got {
						t.Fatalf("lb_policy %s: key %d went to %s, then %s", tc.policy, k, got, again)
					}
				}
				if other := routeWith(t, two+path, hdr); other != got {
					t.Fatalf("lb_policy %s: key %d went to %s on one proxy, %s on another", tc.policy, k, got, other)
				}
				spread[got]++
			}
			if spread["a"] < 8 || spread["b"] < 8 || spread["c"] < 8 {
				t.Errorf("lb_policy %s spread 60 keys as %v; want every member to get some", tc.policy, spread)
			}
		})
	}

	t.Run("fallback", func(t *testing.T) {
		_, site := startProxy(t, oneBalancer(abc, "\t\tlb_policy header X-Tenant {\n\t\t\tfallback first\n\t\t}"), nil)
		for range 5 {
			if got := routeWith(t, site+"/", nil); got != "a" {
				t.Fatalf("lb_policy header without the header, fallback first, went to %s; want a", got)
			}
		}
	})

	t.Run("weighted_round_robin", func(t *testing.T) {
		_, site := startProxy(t, oneBalancer(abc, "\t\tlb_policy weighted_round_robin 3 1 0"), nil)
		got := map[string]int{}
		for range 8 {
			got[routeWith(t, site+"/", nil)]++
		}
		if got["a"] != 6 || got["b"] != 2 || got["c"] != 0 {
			t.Errorf("8 requests under weighted_round_robin 3 1 0 = %v; want a 6, b 2, c none", got)
		}
	})

	t.Run("random_choose", func(t *testing.T) {
		release := make(chan struct{})
		busy := newBackend(t, "busy", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hold" {
				<-release
			}
		})
		idle := newBackend(t, "idle", nil)
		_, site := startProxy(t, oneBalancer("busy=http://"+busy.hostport()+" idle=http://"+idle.hostport(),
			"\t\tlb_policy random_choose 2\n\t\tlb_retries 0"), nil)
		// Hold requests on busy until one lands there (the others went
		// to idle and came back).
		held := make(chan struct{}, 16)
		for busy.hits.Load() == 0 {
			go func() {
				resp, err := http.Get(site + "/hold")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				held <- struct{}{}
			}()
			testpeers.WaitUntil(t, 5*time.Second, "the held request answered or parked", func() bool {
				return busy.hits.Load() > 0 || len(held) > 0
			})
			if busy.hits.Load() == 0 {
				<-held
			}
		}
		for range 20 {
			if got := routeWith(t, site+"/", nil); got != "idle" {
				t.Fatalf("random_choose 2 with busy holding a request went to %s; want idle", got)
			}
		}
		close(release)
	})
}

// TestAffinityCookieOptions: the affinity cookie carries the attributes
// its block sets (Caddy's max_age, and domain, secure, samesite), and
// lb_policy cookie NAME SECRET signs with the secret, so two proxies with
// different cluster keys but the same config accept each other's cookies.
func TestAffinityCookieOptions(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	members := "a=http://" + a.hostport() + " b=http://" + b.hostport()
	for _, tc := range []struct {
		name, opts string
		want       []string // attributes of the Set-Cookie, in http.Cookie's spelling
		not        []string
	}{
		{"defaults", "\t\tsticky cookie SRV", []string{"Path=/", "HttpOnly", "SameSite=Lax"}, []string{"Max-Age", "Domain", "Secure"}},
		{"sticky block", "\t\tsticky cookie SRV {\n\t\t\tmax_age 1h\n\t\t\tdomain Example.test\n\t\t\tsamesite strict\n\t\t\tsecure\n\t\t}",
			[]string{"Max-Age=3600", "Domain=example.test", "SameSite=Strict", "Secure", "HttpOnly"}, nil},
		{"lb_policy block", "\t\tlb_policy cookie SRV {\n\t\t\tmax_age 10m\n\t\t\tsamesite none\n\t\t\tfallback first\n\t\t}",
			[]string{"Max-Age=600", "SameSite=None", "Secure"}, []string{"Domain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, site := startProxy(t, oneBalancer(members, tc.opts), nil)
			route, sc := getWithCookie(t, site+"/", "")
			if len(sc) != 1 || !strings.HasPrefix(sc[0], "SRV=") {
				t.Fatalf("Set-Cookie %q; want one SRV cookie", sc)
			}
			attrs := strings.Split(sc[0], "; ")[1:]
			for _, w := range tc.want {
				if !contains(attrs, w) {
					t.Errorf("Set-Cookie %q lacks %s", sc[0], w)
				}
			}
			for _, n := range tc.not {
				for _, at := range attrs {
					if strings.HasPrefix(at, n) {
						t.Errorf("Set-Cookie %q has %s", sc[0], at)
					}
				}
			}
			if tc.name == "lb_policy block" && route != "a" {
				t.Errorf("a new client under lb_policy cookie { fallback first } went to %s; want a", route)
			}
		})
	}

	opts := "\t\tlb_policy cookie SRV s3cr3t-shared"
	_, one, _ := startProxyWithTable(t, oneBalancer(members, opts), Options{AffinityKey: []byte("cluster one's key of 32 bytes!!!")})
	_, two, _ := startProxyWithTable(t, oneBalancer(members, opts), Options{AffinityKey: []byte("cluster two's key of 32 bytes!!!")})
	route, sc := getWithCookie(t, one+"/", "")
	c := cookieValue(sc, "SRV")
	for range 4 {
		got, sc := getWithCookie(t, two+"/", "SRV="+c)
		if got != route || len(sc) != 0 {
			t.Fatalf("a cookie signed with the shared secret on one proxy: the other sent it to %s (issued on %s), Set-Cookie %q", got, route, sc)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestFlushInterval: flush_interval -1 (Caddy's) passes a member's bytes
// on as they come, also for an answer of known length, which is otherwise
// buffered until the copy buffer fills or the answer ends. The member
// sends its second part only once the client has read the first; without
// the flushes the client could read nothing until the member gave up
// waiting (after 10 s), and gaveUp says so.
func TestFlushInterval(t *testing.T) {
	readFirst := make(chan struct{})
	var gaveUp atomic.Bool
	m := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "12")
		io.WriteString(w, "first.")
		w.(http.Flusher).Flush()
		select {
		case <-readFirst:
		case <-time.After(10 * time.Second):
			gaveUp.Store(true)
		}
		io.WriteString(w, "second")
	})
	_, site := startProxy(t, oneBalancer("m=http://"+m.hostport(), "\t\tflush_interval -1"), nil)
	resp, err := http.Get(site + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first, _ := bufio.NewReader(io.LimitReader(resp.Body, 6)).ReadString('.')
	close(readFirst)
	if first != "first." || gaveUp.Load() {
		t.Errorf("flush_interval -1: read %q, the member waited for it in vain: %v; want the first part while the member waits", first, gaveUp.Load())
	}
}

// TestAffinityCookieSecureOverHTTPS: the affinity cookie a client gets
// over HTTPS is Secure from its first answer on (not only when reissued).
func TestAffinityCookieSecureOverHTTPS(t *testing.T) {
	a := newBackend(t, "a", nil)
	port := freePort(t)
	src := fmt.Sprintf("{\n\tadmin off\n\tstorage file %s\n}\nhttps://localhost:%d {\n\ttls internal\n\treverse_proxy {\n\t\tto a=http://%s\n\t\tsticky cookie SRV\n\t}\n}\n", t.TempDir(), port, a.hostport())
	srv, _ := startProxy(t, src, nil)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: internalRoot(t, srv)}}}
	resp, err := c.Get(fmt.Sprintf("https://localhost:%d/", port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Values("Set-Cookie")
	if len(sc) != 1 || !strings.HasPrefix(sc[0], "SRV=") || !strings.Contains(sc[0], "; Secure") {
		t.Errorf("first answer over HTTPS: Set-Cookie %q; want the SRV cookie with Secure", sc)
	}
}
