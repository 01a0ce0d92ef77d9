package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRedirRespond: redir and respond answer before the balancer, in
// Caddy's order (redir first), with placeholders filled in from the
// request; other paths still reach the member.
func TestRedirRespond(t *testing.T) {
	m := newBackend(t, "m", nil)
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\tredir /old /new permanent\n" +
		"\tredir /away/* https://other.example{uri}\n" +
		"\trespond /health 200\n" +
		"\trespond /hello \"hello {query.name} from {host}, {method} {path}\" 201\n" +
		"\trespond /away/x \"never: redir comes first\"\n" +
		"\tredir /html \"https://x.example/<a>\" html\n" +
		"\treverse_proxy m=http://" + m.hostport() + "\n}\n"
	_, site := startProxy(t, src, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, location, body string
		status               int
	}{
		{path: "/old", status: 301, location: "/new"},
		{path: "/away/x?y=1", status: 302, location: "https://other.example/away/x?y=1"},
		{path: "/health", status: 200},
		{path: "/hello?name=ann", status: 201, body: "hello ann from 127.0.0.1, GET /hello"},
		{path: "/html", status: 200, body: "&lt;a&gt;"},
		{path: "/app", status: 200, body: "hello from m\n"},
	} {
		resp, err := client.Get(site + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s: %d Location %q body %q; want %d, %q, containing %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), body, tc.status, tc.location, tc.body)
		}
	}
}
