package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/config"
)

// echoBackend is a member that answers with its name, the method and the
// URI it received and the X-Req request field.
func echoBackend(t *testing.T, name string) *backend {
	return newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s x-req=%s", name, r.Method, r.URL.RequestURI(), r.Header.Get("X-Req"))
	})
}

type pipelineCase struct {
	method, path string
	header       http.Header
	status       int
	body         string // a prefix of the body
	respHeader   [2]string
}

func checkPipeline(t *testing.T, site string, cases []pipelineCase) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		if tc.method == "" {
			tc.method = "GET"
		}
		req, _ := http.NewRequest(tc.method, site+tc.path, nil)
		for k, vs := range tc.header {
			req.Header[k] = vs
		}
		if h := tc.header.Get("Host"); h != "" {
			req.Host = h
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(string(body), tc.body) {
			t.Errorf("%s %s %v: %d %q; want %d %q...", tc.method, tc.path, tc.header, resp.StatusCode, body, tc.status, tc.body)
		}
		if k := tc.respHeader[0]; k != "" && resp.Header.Get(k) != tc.respHeader[1] {
			t.Errorf("%s %s: %s = %q; want %q", tc.method, tc.path, k, resp.Header.Get(k), tc.respHeader[1])
		}
	}
}

// TestHandleBlocks: handle blocks are mutually exclusive and sorted by
// path specificity whatever their order in the file; handle_path strips
// its prefix before the member sees the request; a handle without a
// matcher is the fallback; a route block runs its directives as written.
func TestHandleBlocks(t *testing.T) {
	api, app, web := echoBackend(t, "api"), echoBackend(t, "app"), echoBackend(t, "web")
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\thandle {\n\t\treverse_proxy " + web.hostport() + "\n\t}\n" +
		"\thandle /app/* {\n\t\treverse_proxy " + app.hostport() + "\n\t}\n" +
		"\thandle_path /api/* {\n\t\trequest_header X-Req stripped\n\t\treverse_proxy " + api.hostport() + "\n\t}\n" +
		"\thandle /app/admin/* {\n\t\trespond \"admin only\" 403\n\t}\n" +
		"\thandle /r/* {\n\t\troute {\n\t\t\trespond /r/first \"first\" 200\n\t\t\theader X-Late yes\n\t\t\trewrite * /r/first\n\t\t\trespond \"second\"\n\t\t}\n\t}\n" +
		"}\n"
	_, site := startProxy(t, src, nil)
	checkPipeline(t, site, []pipelineCase{
		{path: "/app/x?q=1", status: 200, body: "app GET /app/x?q=1"},
		{path: "/APP/x", status: 200, body: "app GET /APP/x"}, // Caddy's path matching ignores case
		{path: "/app/admin/users", status: 403, body: "admin only"},
		{path: "/api/v1/items?id=3", status: 200, body: "api GET /v1/items?id=3 x-req=stripped"},
		{path: "/api", status: 200, body: "web GET /api"}, // /api/* does not match /api
		{path: "/other", status: 200, body: "web GET /other x-req="},
		// route keeps its order: the rewrite comes after the first respond,
		// so /r/x gets "second" (with the header), not "first".
		{path: "/r/x", status: 200, body: "second", respHeader: [2]string{"X-Late", "yes"}},
		{path: "/r/first", status: 200, body: "first"},
	})
}

// TestNamedMatchers: each condition of a matcher set, on the directives
// that take matchers, with not, and the site's order across directives
// (header before redir before rewrite before respond before
// reverse_proxy, as Caddy runs them).
func TestNamedMatchers(t *testing.T) {
	m := echoBackend(t, "m")
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\ttrusted_proxies 127.0.0.0/8\n" +
		"\thandle @api {\n\t\treverse_proxy " + m.hostport() + "\n\t}\n" +
		"\t@api {\n\t\tpath /api/*\n\t\tmethod GET POST\n\t\tnot header X-Block *\n\t}\n" +
		"\t@json header Accept application/json*\n" +
		"\trespond @json `{\"json\":true}` 200\n" +
		"\t@debug query debug=1 debug=yes\n" +
		"\theader @debug X-Debug on\n" +
		"\t@office client_ip 10.9.0.0/16\n" +
		"\trespond @office \"office\" 200\n" +
		"\t@local remote_ip 127.0.0.1\n" +
		"\theader @local X-Local yes\n" +
		"\t@ver path_regexp ver ^/v([0-9]+)/\n" +
		"\trewrite @ver /api/version\n" +
		"\t@other host other.example\n" +
		"\trespond @other \"other host\" 200\n" +
		"\t@h2 protocol http/2\n" +
		"\trespond @h2 \"h2\" 200\n" +
		"\t@gone {\n\t\tpath /old/*\n\t\tnot path /old/keep/*\n\t}\n" +
		"\tredir @gone /new 301\n" +
		"\t@uk header_regexp lang Accept-Language ^en-GB\n" +
		"\trespond @uk \"cheerio\" 200\n" +
		"\trespond \"fallback\" 404\n" +
		"}\n"
	_, site := startProxy(t, src, nil)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	checkPipeline(t, site, []pipelineCase{
		{path: "/api/x", status: 200, body: "m GET /api/x", respHeader: [2]string{"X-Local", "yes"}},
		{method: "POST", path: "/api/x", status: 200, body: "m POST /api/x"},
		{method: "DELETE", path: "/api/x", status: 404, body: "fallback"},
		{path: "/api/x", header: h("X-Block", "1"), status: 404, body: "fallback"},
		// handle runs before respond, whatever the file's order.
		{path: "/api/x", header: h("Accept", "application/json; q=1"), status: 200, body: "m GET /api/x"},
		{path: "/x", header: h("Accept", "application/json; q=1"), status: 200, body: `{"json":true}`},
		{path: "/nothing?debug=yes", status: 404, respHeader: [2]string{"X-Debug", "on"}},
		{path: "/nothing?debug=2", status: 404, respHeader: [2]string{"X-Debug", ""}},
		// client_ip believes X-Forwarded-For from a trusted proxy.
		{path: "/x", header: h("X-Forwarded-For", "10.9.1.2"), status: 200, body: "office"},
		{path: "/x", header: h("X-Forwarded-For", "10.8.1.2"), status: 404, body: "fallback"},
		{path: "/v2/anything", status: 200, body: "m GET /api/version"},
		{path: "/x", header: h("Host", "other.example"), status: 200, body: "other host"},
		{path: "/old/page", status: 301},
		{path: "/old/keep/page", status: 404},
		{path: "/x", header: h("Accept-Language", "en-GB,en;q=0.8"), status: 200, body: "cheerio"},
		{path: "/x", header: h("Accept-Language", "en-US"), status: 404},
	})
}

// TestRewriteAndURI: rewrite keeps the query unless it sets one, rewrites
// are mutually exclusive (the first matching one only), and uri strips
// and replaces; the member sees the result.
func TestRewriteAndURI(t *testing.T) {
	m := echoBackend(t, "m")
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\trewrite /docs/json/* /docs/json/index.html\n" +
		"\trewrite /docs/* /docs/index.html\n" +
		"\trewrite /q /query?a={path}&{query}\n" +
		"\turi /legacy/* strip_prefix /legacy\n" +
		"\turi /x/* replace .php .jsp\n" +
		"\turi /y/* strip_suffix .html\n" +
		"\treverse_proxy " + m.hostport() + "\n}\n"
	_, site := startProxy(t, src, nil)
	checkPipeline(t, site, []pipelineCase{
		{path: "/docs/json/a?b=1", status: 200, body: "m GET /docs/json/index.html?b=1"},
		{path: "/docs/a", status: 200, body: "m GET /docs/index.html"},
		{path: "/q?z=9", status: 200, body: "m GET /query?a=/q&z=9"},
		{path: "/legacy/app/a.jsp", status: 200, body: "m GET /app/a.jsp"},
		{path: "/x/a.php", status: 200, body: "m GET /x/a.jsp"},
		{path: "/y/a.html", status: 200, body: "m GET /y/a"},
	})
}

// TestAbort: abort closes the connection without an answer.
func TestAbort(t *testing.T) {
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\tabort /secret/*\n\trespond ok\n}\n"
	_, site := startProxy(t, src, io.Discard)
	if _, err := http.Get(site + "/secret/x"); err == nil {
		t.Error("GET /secret/x answered; want the connection closed")
	}
	checkPipeline(t, site, []pipelineCase{{path: "/x", status: 200, body: "ok"}})
}

// nopHandler is a route's handler that answers nothing, for the dispatch
// benchmark.
type nopHandler struct{}

func (nopHandler) serve(http.ResponseWriter, *http.Request, *program, int) {}

// BenchmarkPipelineDispatch matches and dispatches requests on a site of
// ten routes (named matchers, handle blocks, inline paths): it must not
// allocate (0 allocs/op).
func BenchmarkPipelineDispatch(b *testing.B) {
	src := "http://127.0.0.1:0 {\n" +
		"\t@api {\n\t\tpath /api/*\n\t\tmethod GET POST\n\t}\n" +
		"\t@json header Accept application/json*\n" +
		"\theader @json X-A 1\n" +
		"\tredir /old /new\n" +
		"\trespond /health 200\n" +
		"\thandle /static/* {\n\t\trespond static\n\t}\n" +
		"\thandle @api {\n\t\trespond api\n\t}\n" +
		"\thandle /admin/* {\n\t\trespond admin\n\t}\n" +
		"\treverse_proxy /a/* 127.0.0.1:1\n" +
		"\treverse_proxy /b/* 127.0.0.1:2\n" +
		"\treverse_proxy /c/* 127.0.0.1:3\n" +
		"\treverse_proxy 127.0.0.1:4\n" +
		"}\n"
	cfg, err := config.Parse(filepath.Join(b.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	c := &compiler{balancers: map[*config.Balancer]*Balancer{}}
	for _, bc := range cfg.Sites[0].Balancers {
		c.balancers[bc] = &Balancer{}
	}
	if err := c.compileRoutes(cfg.Sites[0].Routes); err != nil {
		b.Fatal(err)
	}
	// Every handler answers nothing, so the benchmark times matching and
	// dispatch alone.
	for i := range c.ops {
		if c.ops[i].h != nil {
			c.ops[i].h = nopHandler{}
		}
	}
	p := &program{ops: c.ops, end: http.NotFoundHandler()}
	reqs := []*http.Request{
		httptest.NewRequest("GET", "/c/page", nil),     // the last path-matched balancer
		httptest.NewRequest("POST", "/api/items", nil), // the second handle
		httptest.NewRequest("GET", "/anything", nil),   // the catch-all balancer
	}
	reqs[1].Header.Set("Accept", "application/json")
	var w http.ResponseWriter
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.run(w, reqs[i%len(reqs)], 0)
	}
}
