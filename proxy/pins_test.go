package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/replication"
)

func TestPinWorthy(t *testing.T) {
	const sent = "ABC123.dead"
	for _, tc := range []struct {
		name      string
		status    int
		setCookie []string
		want      bool
	}{
		{name: "200 without Set-Cookie", status: 200, want: true},
		{name: "204", status: 204, want: true},
		{name: "302 to a login page", status: 302, want: true},
		{name: "304", status: 304, want: true},
		{name: "400", status: 400},
		{name: "404 for an unknown page", status: 404},
		{name: "500", status: 500},
		{name: "503", status: 503},
		{name: "other cookies only", status: 200, setCookie: []string{"SID=x; Path=/", "JSESSIONIDX=y"}, want: true},
		{name: "the same session id again", status: 200, setCookie: []string{"JSESSIONID=" + sent + "; Path=/; HttpOnly"}, want: true},
		{name: "the same id, quoted", status: 200, setCookie: []string{`JSESSIONID="` + sent + `"; Path=/`}, want: true},
		{name: "a new session (Tomcat, unknown id)", status: 200, setCookie: []string{"JSESSIONID=F00D.b; Path=/; HttpOnly"}},
		{name: "renamed to the new route (JvmRouteBinderValve)", status: 200, setCookie: []string{"JSESSIONID=ABC123.b; Path=/; HttpOnly"}},
		{name: "session deleted", status: 200, setCookie: []string{"JSESSIONID=" + sent + "; Max-Age=0"}},
		{name: "new session on a redirect", status: 302, setCookie: []string{"JSESSIONID=F00D.b; Path=/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Set-Cookie": tc.setCookie}}
			if got := pinWorthy(resp, "JSESSIONID", sent); got != tc.want {
				t.Errorf("pinWorthy(%d, Set-Cookie %q, %q) = %v; want %v", tc.status, tc.setCookie, sent, got, tc.want)
			}
		})
	}
}

// startTable runs a session table with no peers until the test ends.
func startTable(t testing.TB, node string) *replication.Table {
	t.Helper()
	tab, err := replication.New(replication.Config{NodeName: node, StatePath: filepath.Join(t.TempDir(), "states.json")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tab.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("table Run: %v", err)
		}
	})
	return tab
}

// buildBalancer builds the Server for src around the session table tab,
// without listening, and returns its balancer "app": the tests that call
// Balancer.ServeHTTP directly.
func buildBalancer(t testing.TB, src string, tab *replication.Table) *Balancer {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s, err := New(cfg, Options{Logger: zerolog.New(t.Output()).Level(zerolog.InfoLevel), Sessions: tab})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s.Balancer("app")
}

// serveSession sends GET path with JSESSIONID=sid through b and returns
// the status and the member that answered (X-Route).
func serveSession(b *Balancer, sid, path string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, "http://app.test"+path, nil)
	req.Header.Set("Cookie", "JSESSIONID="+sid)
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("X-Route")
}

// TestFailoverPinOnlyWhenServed: a session that fails over is pinned to
// its new member only when that member answered it without an error and
// kept its id; the others go back to their own member when it returns.
func TestFailoverPinOnlyWhenServed(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("JSESSIONID")
		id, _, _ := strings.Cut(c.Value, ".")
		switch r.URL.Path {
		case "/ok":
		case "/redirect":
			w.Header().Set("Location", "/login")
			w.WriteHeader(http.StatusFound)
		case "/same":
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: c.Value, Path: "/"})
		case "/new":
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "NEW" + id + ".b", Path: "/"})
		case "/renamed":
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id + ".b", Path: "/"})
		case "/logout":
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "", Path: "/", MaxAge: -1})
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	})
	a := newBackend(t, "a", nil)
	tab := startTable(t, "p1")
	bal := buildBalancer(t, oneBalancer("a=http://"+a.hostport()+" b=http://"+b.hostport(), ""), tab)
	cases := []struct {
		path   string
		pinned bool
	}{
		{"/ok", true}, {"/redirect", true}, {"/same", true},
		{"/new", false}, {"/renamed", false}, {"/logout", false}, {"/fail", false}, {"/missing", false},
	}
	if err := bal.SetState("a", 2); err != nil { // stopped
		t.Fatal(err)
	}
	for i, tc := range cases {
		if _, got := serveSession(bal, fmt.Sprintf("S%d.a", i), tc.path); got != "b" {
			t.Fatalf("GET %s of S%d.a with a stopped went to %q; want b", tc.path, i, got)
		}
	}
	if err := bal.SetState("a", 0); err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		sid := fmt.Sprintf("S%d.a", i)
		want := map[bool]string{true: "b", false: "a"}[tc.pinned]
		if _, got := serveSession(bal, sid, "/ok"); got != want {
			t.Errorf("%s, failed over by GET %s, went to %s once a returned; want %s (pinned %v)", sid, tc.path, got, want, tc.pinned)
		}
	}
	if n := tab.Len(); n != 3 {
		t.Errorf("table holds %d pins; want 3", n)
	}
}
