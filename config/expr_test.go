package config

import (
	"strings"
	"testing"
)

// TestExpressionErrors: an expression Tether cannot read, or one that
// cannot give a bool, is a config error at the part of it that is wrong,
// in the file's line and column (also inside backticks and heredocs).
func TestExpressionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{name: "unknown function", src: "a.com {\n\t@a expression {path}.frobnicate()\n\trespond @a 1\n}",
			want: "Caddyfile:2:23: @a: expression: unknown function frobnicate"},
		{name: "not a bool", src: "a.com {\n\t@a expression {path}\n}",
			want: "Caddyfile:2:16: @a: expression: the expression gives dyn, not bool"},
		{name: "syntax in backticks", src: "a.com {\n\t@a `{method} == `\n}",
			want: "Caddyfile:2:18: @a: expression: unexpected end of expression"},
		{name: "position on a later line of a heredoc", src: "a.com {\n\t@a <<CEL\n\t\t{method} == \"GET\"\n\t\t&& {nope}.size() > 1\n\t\tCEL\n}",
			want: "Caddyfile:4:4: @a: expression: unknown placeholder {nope}"},
		{name: "macro", src: "a.com {\n\t@a expression has({path})\n}",
			want: "Caddyfile:2:16: @a: expression: the has macro is not supported"},
		{name: "type mismatch", src: "a.com {\n\t@a expression 1 == \"a\"\n}",
			want: "Caddyfile:2:18: @a: expression: == compares int with string (never equal)"},
		{name: "plus of bools", src: "a.com {\n\t@a expression `true + false`\n}",
			want: "Caddyfile:2:22: @a: expression: + cannot add bool and bool"},
		{name: "bad regexp", src: "a.com {\n\t@a expression `{path}.matches('(')`\n}",
			want: "Caddyfile:2:32: @a: expression: matches: error parsing regexp"},
		{name: "matcher function argument", src: "a.com {\n\t@a expression `path('app/*')`\n}",
			want: "Caddyfile:2:17: @a: expression: path \"app/*\" must start with / or *"},
		{name: "matcher function with a list", src: "a.com {\n\t@a `client_ip({env.IPS}.split(\",\"))`\n}",
			want: "Caddyfile:2:16: @a: expression: client_ip: arguments must be strings: literals, placeholders or their concatenation"},
		{name: "matcher function with a bad address", src: "a.com {\n\t@a `remote_ip({env.IPS})`\n}",
			want: "Caddyfile:2:6: @a: expression: remote_ip: \"10.0.0.1,10.0.0.2\" is not a CIDR or IP address"},
		{name: "header wants a map", src: "a.com {\n\t@a `header('X-A', 'b')`\n}",
			want: "Caddyfile:2:6: @a: expression: header takes one map literal, as header({'X-Name': 'value'})"},
		{name: "file matcher", src: "a.com {\n\t@a `file('{path}.html')`\n}",
			want: "Caddyfile:2:6: @a: expression: file: the file matcher is not supported"},
		{name: "unsigned", src: "a.com {\n\t@a `{port} == 443u`\n}",
			want: "Caddyfile:2:16: @a: expression: unsigned integers (443u) are not supported"},
		{name: "int out of range", src: "a.com {\n\t@a `9223372036854775808 > 1`\n}",
			want: "Caddyfile:2:6: @a: expression: integer 9223372036854775808 is out of range"},
		{name: "undeclared name", src: "a.com {\n\t@a `request.path == '/'`\n}",
			want: "Caddyfile:2:6: @a: expression: undeclared name \"request\""},
		{name: "duplicate key", src: "a.com {\n\t@a `{'a': 1, 'a': 2}.a == 1`\n}",
			want: "Caddyfile:2:15: @a: expression: duplicate map key \"a\""},
		{name: "words after the quoted expression", src: "a.com {\n\t@a `{path} == '/'` extra\n}",
			want: "Caddyfile:2:21: @a: unexpected \"extra\" after the quoted expression"},
		{name: "too deep", src: "a.com {\n\t@a `" + strings.Repeat("(", 80) + "true" + strings.Repeat(")", 80) + "`\n}",
			want: "@a: expression: nested more than 64 deep"},
		{name: "empty", src: "a.com {\n\t@a expression ``\n}",
			want: "Caddyfile:2:16: @a: expression: empty"},
		{name: "a CEL call given to remote_ip", src: "a.com {\n\t@a remote_ip `client_ip(x)`\n}",
			want: "Caddyfile:2:15: @a: remote_ip: \"client_ip(x)\" is not a CIDR or IP address (or private_ranges); a CEL call belongs in an expression matcher"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir, err := parseFiles(t, map[string]string{"Caddyfile": tc.src}, map[string]string{"IPS": "10.0.0.1,10.0.0.2"})
			if err == nil {
				t.Fatalf("Parse = nil; want an error %q", tc.want)
			}
			got := strings.ReplaceAll(err.Error(), dir+"/", "")
			if !strings.Contains(got, tc.want) {
				t.Errorf("Parse = %q; want %q", got, tc.want)
			}
		})
	}
}

// TestExpressionEnv: {env.NAME} in an expression is a string value, read
// at load, its characters never parsed as CEL (as in Caddy, where it is a
// placeholder call); elsewhere it is still replaced in the text.
func TestExpressionEnv(t *testing.T) {
	src := "a.com {\n\t@a expression {env.V} == \"x') || true || ('\"\n\trespond @a {env.V}\n}"
	cfg, _, err := parseFiles(t, map[string]string{"Caddyfile": src}, map[string]string{"V": "x') || true || ('"})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Sites[0].Routes[0]
	if got, want := r.Match.Expressions[0].String(), `("x') || true || ('" == "x') || true || ('")`; got != want {
		t.Errorf("expression = %s; want %s", got, want)
	}
	if got := r.Respond.Body.Raw; got != "x') || true || ('" {
		t.Errorf("respond body = %q; want the variable's value", got)
	}
}

// TestExpressionShapes: the canonical form shows how an expression was
// read: CEL's precedence and associativity, literals, and the long form
// of placeholders.
func TestExpressionShapes(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{path} == "/" || {method} == "GET" && {host} == "a"`, `(({http.request.uri.path} == "/") || (({http.request.method} == "GET") && ({http.request.host} == "a")))`},
		{`1 + 2 * 3 - 4 < 5 == true`, `((((1 + (2 * 3)) - 4) < 5) == true)`},
		{`!!({err.status_code} == 1) ? false : true`, `(!!({http.error.status_code} == 1) ? false : true)`},
		{`-{port} < -1 && 1.5e3 > 0x1F`, `((-{http.request.port} < -1) && (1500.0 > 31))`},
		{`r'\d' + "\x41\u00e9\101\n" == '' // a comment`, `(("\\d" + "AéA\n") == "")`},
		{`'''multi
line''' != "" && [1, 2,][0] == 1 && {'a': [1]}.a.size() == 1`, `((("multi\nline" != "") && ([1, 2][0] == 1)) && ({"a": [1]}.a.size() == 1))`},
	} {
		e, err := ParseExpression("t", "@t", tc.src, nil)
		if err != nil {
			t.Errorf("ParseExpression(%q): %v", tc.src, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("ParseExpression(%q) = %s; want %s", tc.src, got, tc.want)
		}
	}
}

// FuzzExpression: the CEL parser and checker never panic, and what they
// accept prints (String) as an expression that parses to the same form.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		`{http.error.status_code} in [502, 503, 504]`,
		`{method} == "GET" && {path}.startsWith("/api")`,
		`path('/a/*') || header({'X-A': 'b'})`,
		`remote_ip('10.0.0.0/8')`,
		`client_ip({env.X}.split(","))`,
		`!(path('/api*') || method('POST')) ? true : false`,
		`"héllo".substring(1, 3) == "él" && [1, 2.5, "x", null, {'k': [true]}][1] > -9223372036854775808`,
		`r'\d' + "\x41\u00e9\101" == '''a''' // c`,
		`{path}.matches("^/(a|b)$") && size({query.q}) >= 0x10`,
		`query({'q': ['a', {path}]}) && header_regexp('n', 'X', '^a')`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseExpression("f", "@f", src, func(string) (string, bool) { return "v", true })
		if err != nil {
			return
		}
		again, err := ParseExpression("f", "@f", e.String(), nil)
		if err != nil {
			t.Fatalf("ParseExpression(%q) printed %q, which does not parse: %v", src, e.String(), err)
		}
		if again.String() != e.String() {
			t.Fatalf("ParseExpression(%q): %q parses as %q", src, e.String(), again.String())
		}
	})
}
