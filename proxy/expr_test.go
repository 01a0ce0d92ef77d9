package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/config"
)

// celEnv is the environment the expression tests read {env.*} from.
func celEnv(name string) (string, bool) {
	switch name {
	case "TRUSTED":
		return "10.1.0.0/16", true
	case "LIST":
		return "a,b,c", true
	}
	return "", false
}

// celRequest is the request the evaluator tests match: GET
// /api/v1/items?sort=asc&q=x from 10.1.2.3:4567, Host shop.example:8443,
// with Accept and X-Multi (twice).
func celRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://shop.example:8443/api/v1/items?sort=asc&q=x", nil)
	r.RemoteAddr = "10.1.2.3:4567"
	r.Header.Set("Accept", "application/json")
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	r.Header.Set("User-Agent", "Mozilla/5.0 Chrome/120")
	return r
}

// TestExpressionEval: CEL's operators, functions and Caddy's matcher
// functions on a request, as Caddy's expression matcher evaluates them.
func TestExpressionEval(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		// Placeholders and comparisons.
		{`{method} == "GET"`, true},
		{`{http.request.method} == 'POST'`, false},
		{`{method} == "GET" && {path}.startsWith("/api")`, true},
		{`{path}.startsWith("/api") && {method} == "POST"`, false},
		{`{host} == "shop.example" && {port} == 8443`, true},
		{`{remote_host} == '10.1.2.3' && {remote_port} > 4000`, true},
		{`{query.sort} in ['asc', 'desc']`, true},
		{`{query.sort} in ['up', 'down']`, false},
		{`{header.X-Multi} == "one,two"`, true}, // Caddy joins a field's values
		{`{header.Missing} == ""`, true},
		{`{scheme} == "http"`, true},
		{`{uri}.endsWith("q=x")`, true},
		// An error placeholder outside handle_errors is null.
		{`{http.error.status_code} in [502, 503, 504]`, false},
		{`{err.status_code} == null`, true},
		// Arithmetic, ordering, conditionals, lists and maps.
		{`1 + 2 * 3 == 7 && (1 + 2) * 3 == 9`, true},
		{`7 / 2 == 3 && 7 % 2 == 1 && -7 / 2 == -3`, true},
		{`1.5 * 2.0 == 3.0 && 3 == 3.0 && 2 < 2.5`, true},
		{`"abc" < "abd" && !("b" < "a") && false < true`, true},
		{`[1, 2, 3][1] == 2 && size([1, 2]) == 2`, true},
		{`{'a': 1, 'b': 2}['b'] == 2 && {'a': 1}.a == 1`, true},
		{`'a' in {'a': 1} && !('z' in {'a': 1})`, true},
		{`[1, [2, 3]] == [1, [2, 3]] && [1] != [2]`, true},
		{`{'k': [1]} == {'k': [1]}`, true},
		{`[1] + [2] == [1, 2] && "a" + "b" == "ab"`, true},
		{`{path}.size() > 3 ? {method} == "GET" : false`, true},
		{`-9223372036854775808 < 0 && 0x10 == 16`, true},
		{`null == null && {path} != null`, true},
		// String functions (cel-go's strings extension), code points.
		{`{path}.contains("/v1/") && {path}.endsWith("items")`, true},
		{`{header.User-Agent}.matches("Chrome/[0-9]+") && !matches({path}, "^/web")`, true},
		{`"HeLLo".lowerAscii() == "hello" && "HeLLo".upperAscii() == "HELLO"`, true},
		{`"  x ".trim() == "x" && "a-b-c".replace("-", "+") == "a+b+c" && "a-b-c".replace("-", "", 1) == "ab-c"`, true},
		{`"a,b,c".split(",") == ["a", "b", "c"] && "a,b,c".split(",", 2) == ["a", "b,c"] && size("a,b".split(",", 0)) == 0`, true},
		{`["a", "b"].join("+") == "a+b" && ["a", "b"].join() == "ab"`, true},
		{`"héllo".size() == 5 && "héllo".indexOf("l") == 2 && "héllo".lastIndexOf("l") == 3`, true},
		{`"héllo".substring(1, 3) == "él" && "héllo".charAt(1) == "é" && "abc".indexOf("z") == -1`, true},
		{`int("42") == 42 && double("1.5") == 1.5 && string(7) == "7" && bool("true") && int(2.9) == 2`, true},
		{`{env.LIST}.split(",").size() == 3 && "b" in {env.LIST}.split(",")`, true},
		// Caddy's matcher functions.
		{`path('/api/*')`, true},
		{`path('/web/*', '*.json')`, false},
		{`path('/a/*') || header({'Accept': 'application/json*'})`, true},
		{`header({'Accept': ['text/html', '*json']})`, true},
		{`header({'X-Multi': 'two', 'Accept': 'application/json'})`, true},
		{`header({'X-Multi': 'three'})`, false},
		{`method('GET', 'HEAD') && !method('POST')`, true},
		{`host('shop.example', 'www.shop.example')`, true},
		{`host('*.example') && !host('*.other')`, true},
		{`query({'sort': ['asc', 'desc'], 'q': '*'})`, true},
		{`query({'missing': '*'})`, false},
		{`remote_ip('10.0.0.0/8') && !remote_ip('192.168.0.0/16')`, true},
		{`client_ip({env.TRUSTED})`, true},
		{`client_ip('private_ranges')`, true},
		{`protocol('http') && !protocol('https') && protocol('http/1.1')`, true},
		{`path_regexp('^/api/v[0-9]+/') && header_regexp('User-Agent', 'Chrome')`, true},
		{`!(path('/api*') || method('POST'))`, false},
		// Matcher functions whose arguments are placeholders are built per
		// request.
		{`path('/api/' + {query.q} + '*')`, false},
		{`path('/api/' + {path}.substring(5, 7) + '/*')`, false}, // not a string expression: refused at load (see errors)
		{`host({http.request.host})`, true},
		{`header({'X-Multi': {query.sort}})`, false},
		// Run-time errors make the expression false; && and || absorb an
		// error when the other side decides.
		{`{path} + 1 == 2`, false},
		{`{path} + 1 == 2 || true`, true},
		{`false && {path} + 1 == 2`, false},
		{`!({path} + 1 == 2)`, false},
		{`[1][5] == 1`, false},
		{`{'a': 1}['z'] == 1`, false},
		{`9223372036854775807 + 1 > 0`, false},
		{`1 / 0 == 0`, false},
		{`int("x") == 0`, false},
		{`{port}.startsWith("8")`, false}, // the port is an int
	} {
		t.Run(tc.expr, func(t *testing.T) {
			e, err := config.ParseExpression("test", "@t", tc.expr, celEnv)
			if err != nil {
				if strings.Contains(tc.expr, "substring(5, 7) + '/*'") {
					return // the documented refusal
				}
				t.Fatalf("ParseExpression(%q): %v", tc.expr, err)
			}
			tr := &trustedProxies{prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
			if got := compileExpr(e, tr).match(celRequest()); got != tc.want {
				t.Errorf("%s = %v; want %v", tc.expr, got, tc.want)
			}
		})
	}
}

// TestExpressionErrorAndResponsePlaceholders: {err.*} in handle_errors'
// routes and {rp.*} in handle_response's are the error's and the member's
// answer's, with Caddy's types (the status codes are ints).
func TestExpressionErrorAndResponsePlaceholders(t *testing.T) {
	r := celRequest()
	r = r.WithContext(context.WithValue(r.Context(), errInfoKey{}, &errInfo{status: 503, message: "no member"}))
	resp := &http.Response{StatusCode: 404, Status: "404 Not Found", Header: http.Header{"X-Accel-Redirect": {"/files/a"}}}
	r = r.WithContext(context.WithValue(r.Context(), interceptedKey{}, &interception{resp: resp}))
	r.TLS = &tls.ConnectionState{}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`{http.error.status_code} in [502, 503, 504]`, true},
		{`{err.status_code} >= 500 && {err.status_text} == "Service Unavailable"`, true},
		{`{err.status_code} == "503"`, false},
		{`{rp.status_code} == 404 && {http.reverse_proxy.status_text} == "404 Not Found"`, true},
		{`{rp.header.X-Accel-Redirect}.startsWith("/files/")`, true},
		{`{scheme} == "https" && protocol('https')`, true},
	} {
		e, err := config.ParseExpression("test", "@t", tc.expr, nil)
		if err != nil {
			t.Fatalf("ParseExpression(%q): %v", tc.expr, err)
		}
		if got := compileExpr(e, nil).match(r); got != tc.want {
			t.Errorf("%s = %v; want %v", tc.expr, got, tc.want)
		}
	}
}

// BenchmarkExpressionMatch evaluates a typical expression matcher (a
// placeholder comparison, a string method, a list membership and a
// matcher function): it must not allocate.
func BenchmarkExpressionMatch(b *testing.B) {
	e, err := config.ParseExpression("bench", "@b",
		`{method} in ["GET", "HEAD"] && {path}.startsWith("/api") && header({'Accept': 'application/json*'}) && !remote_ip('192.168.0.0/16') && {header.X-Multi} != "x"`, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := compileExpr(e, nil)
	r := celRequest()
	r.Header.Del("X-Multi")
	r.Header.Set("X-Multi", "one")
	if !p.match(r) {
		b.Fatal("the benchmark's expression does not match")
	}
	b.ReportAllocs()
	for b.Loop() {
		p.match(r)
	}
}

// FuzzExpressionEval: whatever expression config accepts evaluates
// without panicking, on a request whose values the fuzzer chooses too.
func FuzzExpressionEval(f *testing.F) {
	for _, s := range []string{
		`{method} == "GET" && {path}.startsWith("/api")`,
		`{header.X}.split(",", 3).join("-").replace("a", "bb") == {query.q}.substring(0, 1)`,
		`{header.X}.indexOf("é", 1) < {header.X}.lastIndexOf("a") || {header.X}.charAt(2) == "x"`,
		`int({header.X}) / int({query.q}) % 3 == 1 || double({header.X}) > 1.5`,
		`path('/a/' + {header.X}) || header({'X': {query.q}}) || query({{header.X}: '*'})`,
		`{header.X}.matches({query.q}) && [{header.X}, 1][int({query.q})] == 1`,
		`{'a': {header.X}}[{query.q}] == "b" && {header.X} in {'x': 1}`,
	} {
		f.Add(s, "a,é,x,2", "1")
	}
	f.Fuzz(func(t *testing.T, src, hdr, q string) {
		e, err := config.ParseExpression("f", "@f", src, nil)
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "/a/b", nil)
		r.Header.Set("X", hdr)
		r.URL.RawQuery = "q=" + url.QueryEscape(q)
		compileExpr(e, nil).match(r)
	})
}

// TestExpressionMatcher: expression matchers on a running site: on their
// own, in Caddy's quoted shorthand, together with other conditions, under
// not, with matcher functions, and in handle_errors, where
// {http.error.status_code} is the error's status (a dead member's 502).
func TestExpressionMatcher(t *testing.T) {
	m := echoBackend(t, "m")
	dead := deadAddr(t)
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\t@api expression {method} == \"GET\" && {path}.startsWith(\"/api\")\n" +
		"\thandle @api {\n\t\treverse_proxy " + m.hostport() + "\n\t}\n" +
		"\thandle /down/* {\n\t\treverse_proxy " + dead + "\n\t}\n" +
		"\thandle {\n" +
		"\t\t@mutable `{method}.startsWith(\"P\") && !path('/api/*')`\n" +
		"\t\trespond @mutable \"mutable\" 200\n" +
		"\t\t@ws `header({'Connection':'*Upgrade*','Upgrade':'websocket'})`\n" +
		"\t\trespond @ws \"ws\" 200\n" +
		"\t\t@sorted {\n\t\t\tpath /list\n\t\t\texpression {query.sort} in [\"asc\", \"desc\"] && int({query.page}) > 1\n\t\t}\n" +
		"\t\trespond @sorted \"sorted page {query.page}\" 200\n" +
		"\t\t@notlocal {\n\t\t\tpath /local\n\t\t\tnot expression remote_ip('127.0.0.0/8')\n\t\t}\n" +
		"\t\trespond @notlocal \"remote\" 403\n" +
		"\t\trespond \"fallback\" 404\n" +
		"\t}\n" +
		"\thandle_errors {\n" +
		"\t\t@502-504 expression `{http.error.status_code} in [502, 503, 504]`\n" +
		"\t\thandle @502-504 {\n\t\t\trespond \"temporarily unavailable ({err.status_code})\" 503\n\t\t}\n" +
		"\t}\n" +
		"}\n"
	_, site := startProxy(t, src, io.Discard)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	checkPipeline(t, site, []pipelineCase{
		{path: "/api/items", status: 200, body: "m GET /api/items"},
		{method: "POST", path: "/api/items", status: 404, body: "fallback"},
		{method: "PUT", path: "/thing", status: 200, body: "mutable"},
		{path: "/chat", header: h("Connection", "keep-alive, Upgrade", "Upgrade", "websocket"), status: 200, body: "ws"},
		{path: "/chat", header: h("Upgrade", "websocket"), status: 404, body: "fallback"},
		{path: "/list?sort=asc&page=2", status: 200, body: "sorted page 2"},
		{path: "/list?sort=asc&page=1", status: 404, body: "fallback"},
		{path: "/list?sort=up&page=2", status: 404, body: "fallback"},
		{path: "/list?sort=asc&page=x", status: 404, body: "fallback"}, // int("x") fails: no match
		{path: "/local", status: 404, body: "fallback"},                // the test client is local
		{path: "/down/x", status: 503, body: "temporarily unavailable (502)"},
	})
}

// TestExpressionBounds: what a request sends cannot make an expression's
// values grow without bound: a split into too many parts, a replace that
// would make a huge string, fail (the expression is false) instead.
func TestExpressionBounds(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X", strings.Repeat(",", 60000))
	for _, expr := range []string{
		`{header.X}.split(",").size() > 0`,
		`{header.X}.replace(",", "0123456789abcdef0123456789abcdef").size() > 0`,
		`{header.X}.replace("", "0123456789abcdef0123456789abcdef").size() > 0`,
	} {
		e, err := config.ParseExpression("t", "@t", expr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if compileExpr(e, nil).match(r) {
			t.Errorf("%s = true on a 60000-byte header; want the bound to make it fail", expr)
		}
	}
	// Within the bounds they work.
	r.Header.Set("X", "a,b,c")
	e, _ := config.ParseExpression("t", "@t", `{header.X}.split(",").size() == 3`, nil)
	if !compileExpr(e, nil).match(r) {
		t.Error("split of a short header failed")
	}
}
