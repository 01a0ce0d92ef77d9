package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

func TestHealthStatus(t *testing.T) {
	for _, tc := range []struct {
		want []string
		code int
		ok   bool
	}{
		{nil, 200, true}, {nil, 302, true}, {nil, 404, false}, {nil, 503, false},
		{[]string{"2xx"}, 204, true}, {[]string{"2xx"}, 302, false}, {[]string{"200"}, 200, true}, {[]string{"200"}, 204, false},
		{[]string{"3xx"}, 301, true}, {[]string{"2xx", "401"}, 401, true}, {[]string{"2xx", "401"}, 403, false},
		{[]string{"200", "3xx"}, 302, true}, {[]string{"200", "3xx"}, 204, false},
	} {
		if got := healthy(tc.want, tc.code); got != tc.ok {
			t.Errorf("healthy(%q, %d) = %v; want %v", tc.want, tc.code, got, tc.ok)
		}
	}
}

// TestCaddyPolicySpellings: lb_policy cookie sets Tether's signed affinity
// cookie under Caddy's default name and keeps the client on its member;
// health_status 200 takes out a member whose check answers 204.
func TestCaddyPolicySpellings(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	_, site := startProxy(t, oneBalancer("a=http://"+a.hostport()+" b=http://"+b.hostport(), "\t\tlb_policy cookie"), nil)
	resp, _ := testpeers.Get(t, site+"/", nil)
	var lb string
	for _, c := range resp.Cookies() {
		if c.Name == "lb" {
			lb = c.Value
		}
	}
	if lb == "" {
		t.Fatalf("no lb cookie in %q", resp.Header.Values("Set-Cookie"))
	}
	first := resp.Header.Get("X-Route")
	for range 10 {
		if r, _ := testpeers.Get(t, site+"/", map[string]string{"Cookie": "lb=" + lb}); r.Header.Get("X-Route") != first {
			t.Fatalf("with its lb cookie the client went to %s, then %s", first, r.Header.Get("X-Route"))
		}
	}

	noContent := newBackend(t, "nc", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s, _ := startProxy(t, oneBalancer("nc=http://"+noContent.hostport()+" b=http://"+b.hostport(),
		"\t\thealth_uri /health\n\t\thealth_status 200\n\t\thealth_interval 50ms\n\t\thealth_fails 1"), nil)
	testpeers.WaitUntil(t, 5*time.Second, "the member answering 204 taken out by health_status 200", func() bool {
		m := s.Status().Balancers[0].Members[0]
		return m.Name == "nc" && !m.Healthy
	})
}

// TestRequestBodyMaxSize: Caddy's request_body max_size refuses a larger
// body with 413 before the member sees it, and passes a smaller one.
func TestRequestBodyMaxSize(t *testing.T) {
	m := newBackend(t, "m", nil)
	_, site := startProxy(t, "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\trequest_body {\n\t\tmax_size 100\n\t}\n\treverse_proxy m=http://"+m.hostport()+"\n}\n", nil)
	for _, tc := range []struct {
		n    int
		want int
	}{{100, 200}, {101, 413}, {10_000, 413}} {
		before := m.hits.Load()
		resp, err := http.Post(site+"/", "text/plain", strings.NewReader(strings.Repeat("x", tc.n)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST of %d bytes: %d; want %d", tc.n, resp.StatusCode, tc.want)
		}
		if reached := m.hits.Load() > before; reached != (tc.want == 200) {
			t.Errorf("POST of %d bytes reached the member: %v", tc.n, reached)
		}
	}
}
