package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// besideCaddyCEL is a site block with Caddy's expression matchers (CEL):
// on a line, quoted (over two lines), with other conditions, with matcher
// functions, and in handle_errors (Caddy 2.6 reads no heredocs, which
// Tether's own tests cover). Its {env.*} placeholders are read from
// the environment of both servers.
const besideCaddyCEL = `{
	admin off
}
http://127.0.0.1:%d {
	@api expression {method} == "GET" && {path}.startsWith("/api")
	@mutable ` + "`" + `{method}.startsWith("P") && !path('/api/*')` + "`" + `
	@ws ` + "`" + `header({'Connection':'*Upgrade*','Upgrade':'websocket'}) || header({':protocol': 'websocket'})` + "`" + `
	@search ` + "`" + `query({'sort': ['asc', 'desc'], 'q': '*'})
		&& {query.q}.size() >= 3` + "`" + `
	@admin {
		path /admin/*
		expression {header.X-Role}.lowerAscii() in ["ops", "admin"] || remote_ip('10.0.0.0/8')
	}
	@version ` + "`" + `path_regexp('^/v[0-9]+/') && {http.request.uri.path}.split("/").size() > 3` + "`" + `
	@tenant ` + "`" + `{header.X-Tenant} == {env.CEL_TENANT} && header_regexp('User-Agent', '(?i)curl')` + "`" + `
	@arith ` + "`" + `int({query.n}) * 2 + 1 == 7 && {query.n}.matches("^[0-9]+$") && 0.5 < 1.0` + "`" + `
	handle @api {
		reverse_proxy 127.0.0.1:%d
	}
	handle /down/* {
		reverse_proxy 127.0.0.1:%d
	}
	handle {
		respond @mutable "mutable {method}" 200
		respond @ws "websocket" 200
		respond @search "search {query.q}" 200
		respond @admin "admin" 200
		respond @version "versioned" 200
		respond @tenant "tenant" 200
		respond @arith "arith" 200
		respond "fallback" 404
	}
	handle_errors {
		@502-504 expression ` + "`" + `{http.error.status_code} in [502, 503, 504]` + "`" + `
		handle @502-504 {
			respond "temporarily unavailable ({http.error.status_code})" 503
		}
	}
}
`

// TestBesideCaddyExpressions runs one site block with Caddy's expression
// matchers in Caddy (the Debian package, 2.6) and in Tether, and sends
// both the same requests: each gets the same status and body.
func TestBesideCaddyExpressions(t *testing.T) {
	needBinaries(t)
	t.Setenv("CEL_TENANT", "acme")
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "member %s %s", r.Method, r.URL.RequestURI())
	}))
	defer member.Close()
	memberPort := member.Listener.Addr().(*net.TCPAddr).Port
	deadPort := freeLoopbackPort(t)

	caddyPort := freeLoopbackPort(t)
	startCaddy(t, fmt.Sprintf(besideCaddyCEL, caddyPort, memberPort, deadPort), caddyPort)
	tp, _ := startTether(t, fmt.Sprintf(besideCaddyCEL, 0, memberPort, deadPort))
	targets := []struct{ name, base string }{{"caddy", fmt.Sprintf("http://127.0.0.1:%d", caddyPort)}, {"tether", "http://" + tp.addr}}
	client := &http.Client{Timeout: 20 * time.Second}
	type req struct {
		method, path string
		hdr          []string
		// tether, when set, is Tether's answer where Caddy 2.6's differs
		// because a later Caddy changed, and why.
		tether, why string
	}
	for _, rq := range []req{
		{"GET", "/api/items?x=1", nil, "", ""},
		{"POST", "/api/items", nil, "", ""},
		{"PUT", "/thing", nil, "", ""},
		{"PATCH", "/thing", nil, "", ""},
		{"DELETE", "/thing", nil, "", ""},
		{"GET", "/chat", []string{"Connection", "keep-alive, Upgrade", "Upgrade", "websocket"}, "", ""},
		{"GET", "/chat", []string{"Upgrade", "websocket"}, "", ""},
		{"GET", "/find?sort=asc&q=tether", nil, "", ""},
		{"GET", "/find?sort=asc&q=ab", nil, "", ""},
		// Caddy 2.8 made the query matcher AND its keys, as its docs say
		// and Tether does; 2.6 ORs them.
		{"GET", "/find?sort=up&q=tether", nil, `404 "fallback"`, "Caddy 2.6's query matcher ORs its keys (2.8 and Tether AND them)"},
		{"GET", "/admin/users", []string{"X-Role", "OPS"}, "", ""},
		{"GET", "/admin/users", []string{"X-Role", "guest"}, "", ""},
		{"GET", "/v2/a/b", nil, "", ""},
		{"GET", "/v2/a", nil, "", ""},
		{"GET", "/x", []string{"X-Tenant", "acme", "User-Agent", "curl/8.0"}, "", ""},
		{"GET", "/x", []string{"X-Tenant", "other", "User-Agent", "curl/8.0"}, "", ""},
		{"GET", "/calc?n=3", nil, "", ""},
		{"GET", "/calc?n=4", nil, "", ""},
		{"GET", "/calc?n=x", nil, "", ""},
		{"GET", "/down/page", nil, "", ""},
	} {
		var got [2]string
		for i, tg := range targets {
			r, _ := http.NewRequest(rq.method, tg.base+rq.path, nil)
			for j := 0; j+1 < len(rq.hdr); j += 2 {
				r.Header.Set(rq.hdr[j], rq.hdr[j+1])
			}
			resp, err := client.Do(r)
			if err != nil {
				t.Fatalf("%s %s %s: %v", tg.name, rq.method, rq.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got[i] = fmt.Sprintf("%d %q", resp.StatusCode, body)
		}
		switch {
		case rq.tether != "":
			if got[1] != rq.tether {
				t.Errorf("%s %s %v: tether %s; want %s", rq.method, rq.path, rq.hdr, got[1], rq.tether)
			}
			t.Logf("%s %s %v: caddy %s, tether %s: %s", rq.method, rq.path, rq.hdr, got[0], got[1], rq.why)
		case got[0] != got[1]:
			t.Errorf("%s %s %v:\n caddy  %s\n tether %s", rq.method, rq.path, rq.hdr, got[0], got[1])
		default:
			t.Logf("%s %s %v: both %s", rq.method, rq.path, rq.hdr, got[0])
		}
	}
}
