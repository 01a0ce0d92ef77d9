package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestRedirRespond(t *testing.T) {
	parse := func(body string) (*Site, error) {
		cfg, err := Parse("Caddyfile", []byte("example.com {\n"+body+"\n}\n"))
		if err != nil {
			return nil, err
		}
		return &cfg.Sites[0], nil
	}
	s, err := parse("\tredir https://www.example.com{uri} permanent\n\tredir /old /new\n\tredir /a/* /b 308\n\tredir /legacy https://x.example html\n" +
		"\trespond /health 200\n\trespond /hello \"Hello from {host}\" 201\n\trespond /gone {\n\t\tbody \"gone\\n\"\n\t\tclose\n\t}\n\trespond 404")
	if err != nil {
		t.Fatal(err)
	}
	type r struct {
		Path, To string
		Code     int
		HTML     bool
	}
	var got []r
	for _, d := range s.Redirects {
		got = append(got, r{d.Path, d.To.Raw, d.Code, d.HTML})
	}
	want := []r{{"", "https://www.example.com{uri}", 301, false}, {"/old", "/new", 302, false}, {"/a/*", "/b", 308, false}, {"/legacy", "https://x.example", 200, true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("redirects %+v; want %+v", got, want)
	}
	if p := s.Redirects[0].To.Parts; len(p) != 2 || p[0].Lit != "https://www.example.com" || p[1].Var != "uri" {
		t.Errorf("template parts %+v; want a literal and {uri}", p)
	}
	type a struct {
		Path, Body string
		Status     int
		Close      bool
	}
	var gotA []a
	for _, d := range s.Responds {
		gotA = append(gotA, a{d.Path, d.Body.Raw, d.Status, d.Close})
	}
	wantA := []a{{"/health", "", 200, false}, {"/hello", "Hello from {host}", 201, false}, {"/gone", `gone\n`, 0, true}, {"", "", 404, false}}
	if !reflect.DeepEqual(gotA, wantA) {
		t.Errorf("responds %+v; want %+v", gotA, wantA)
	}
	for _, tc := range []struct{ body, wantErr string }{
		{"\tredir", "redir: want at least 1 argument(s)"},
		{"\tredir /a /b 200", `redir: code "200": want permanent, temporary, html or a 3xx status`},
		{"\tredir @old /new", "redir: no matcher named @old is defined"},
		{"\tredir https://x{bogus}", "unknown placeholder {bogus}"},
		{"\trespond /x \"a\" 2000", `respond: status "2000"`},
		{"\trespond {\n\t\tbogus\n\t}", "unknown respond option"},
	} {
		if _, err := parse(tc.body); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v; want %q", tc.body, err, tc.wantErr)
		}
	}
	// Placeholders Caddy users write, in both spellings.
	for _, p := range []string{"{host}", "{http.request.host}", "{uri}", "{http.request.uri}", "{path}", "{query}", "{query.id}", "{http.request.uri.query.id}", "{header.User-Agent}", "{http.request.header.Referer}", "{scheme}", "{remote_host}", "\\{literal\\}"} {
		if _, err := parse("\trespond \"" + p + "\""); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
