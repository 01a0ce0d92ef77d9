package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestEncodeDirective(t *testing.T) {
	parse := func(body string) (*Encode, error) {
		cfg, err := Parse("Caddyfile", []byte("example.com {\n"+body+"\n}\n"))
		if err != nil {
			return nil, err
		}
		return cfg.Sites[0].Encode, nil
	}
	for _, tc := range []struct {
		body    string
		want    []EncodeFormat
		minLen  int64
		wantErr string
	}{
		{body: "\tencode", want: []EncodeFormat{{Name: "zstd"}, {Name: "gzip"}}, minLen: 512},
		{body: "\tencode gzip", want: []EncodeFormat{{Name: "gzip"}}, minLen: 512},
		{body: "\tencode gzip zstd", want: []EncodeFormat{{Name: "gzip"}, {Name: "zstd"}}, minLen: 512},
		{body: "\tencode {\n\t\tgzip 9\n\t\tzstd better\n\t\tminimum_length 1KiB\n\t}", want: []EncodeFormat{{Name: "gzip", Level: 9}, {Name: "zstd", Level: 3}}, minLen: 1024},
		{body: "\tencode zstd gzip {\n\t\tgzip 1\n\t}", want: []EncodeFormat{{Name: "zstd"}, {Name: "gzip", Level: 1}}, minLen: 512},
		{body: "\tencode br", wantErr: `Caddyfile:2:9: encode: unknown format "br" (want zstd or gzip)`},
		{body: "\tencode @text gzip", wantErr: "Caddyfile:2:9: encode: no matcher named @text is defined"},
		{body: "\tencode {\n\t\tgzip 10\n\t}", wantErr: `Caddyfile:3:8: gzip: level "10": want 1 (fastest) to 9 (smallest)`},
		{body: "\tencode {\n\t\tzstd ultra\n\t}", wantErr: `Caddyfile:3:8: zstd: level "ultra"`},
		{body: "\tencode {\n\t\tminimum_length lots\n\t}", wantErr: `Caddyfile:3:18: minimum_length: bad size "lots"`},
		{body: "\tencode {\n\t\tmatch {\n\t\t\tstatus 20x\n\t\t}\n\t}", wantErr: `Caddyfile:4:11: match: status "20x": want a status code (404) or a class (4xx)`},
		{body: "\tencode {\n\t\tmatch {\n\t\t\tcontent_type text/*\n\t\t}\n\t}", wantErr: `Caddyfile:4:4: unknown response matcher condition "content_type"`},
		{body: "\tencode {\n\t\tmatch\n\t}", wantErr: "Caddyfile:3:3: match: want status or header conditions"},
		{body: "\tencode {\n\t\tmatch header !Content-Type text/*\n\t}", wantErr: "Caddyfile:3:30: match: header !Content-Type takes no value"},
		{body: "\tencode {\n\t\tmatch status 200 {\n\t\t}\n\t}", wantErr: "Caddyfile:3:20: match: write the conditions on the line or in a block, not both"},
		{body: "\tencode gzip\n\tencode zstd", wantErr: "Caddyfile:3:2: encode is set twice"},
	} {
		e, err := parse(tc.body)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v; want %q", tc.body, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if !reflect.DeepEqual(e.Formats, tc.want) || e.MinimumLength != tc.minLen {
			t.Errorf("%q: formats %+v, minimum_length %d; want %+v, %d", tc.body, e.Formats, e.MinimumLength, tc.want, tc.minLen)
		}
	}
}

// TestEncodeMatch: Caddy's match block (or line) of encode: statuses and
// classes, header conditions, and one field on several lines taking any
// of their values (sub2api's Content-Type list).
func TestEncodeMatch(t *testing.T) {
	for _, tc := range []struct {
		body string
		want ResponseMatcher
	}{
		{"\tencode {\n\t\tmatch {\n\t\t\theader Content-Type text/*\n\t\t\theader Content-Type application/json*\n\t\t\tstatus 2xx 404\n\t\t}\n\t}",
			ResponseMatcher{Name: "match", Statuses: []int{2, 404}, Headers: []FieldMatch{{Field: "Content-Type", Values: []string{"text/*", "application/json*"}}}}},
		{"\tencode gzip {\n\t\tmatch header content-type *json*\n\t}",
			ResponseMatcher{Name: "match", Headers: []FieldMatch{{Field: "Content-Type", Values: []string{"*json*"}}}}},
		{"\tencode {\n\t\tmatch {\n\t\t\tstatus 200\n\t\t\theader !Content-Encoding\n\t\t\theader X-Compress\n\t\t}\n\t}",
			ResponseMatcher{Name: "match", Statuses: []int{200}, Headers: []FieldMatch{{Field: "Content-Encoding", Absent: true}, {Field: "X-Compress"}}}},
	} {
		cfg, err := Parse("Caddyfile", []byte("example.com {\n"+tc.body+"\n}\n"))
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		got := *cfg.Sites[0].Encode.Match
		got.Pos = Pos{}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: match %+v; want %+v", tc.body, got, tc.want)
		}
	}
}

// TestHeaderMatcherAlternatives: in a request matcher too, the values of
// one header field given on several lines are alternatives (Caddy's
// "@foo { header Foo bar; header Foo baz }" matches either), while
// different fields must all hold.
func TestHeaderMatcherAlternatives(t *testing.T) {
	cfg, err := Parse("Caddyfile", []byte("example.com {\n\t@foo {\n\t\theader Foo bar\n\t\theader foo baz\n\t\theader X-B *\n\t}\n\trespond @foo 1\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Sites[0].Routes[0].Match.Headers
	want := []FieldMatch{{Field: "Foo", Values: []string{"bar", "baz"}}, {Field: "X-B", Values: []string{"*"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headers = %+v; want %+v", got, want)
	}
}
