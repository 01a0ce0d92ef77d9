package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestHeaderDirective(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    []HeaderOp
		wantErr string
	}{
		{body: `header Strict-Transport-Security "max-age=31536000; includeSubDomains"`, want: []HeaderOp{{Op: "set", Field: "Strict-Transport-Security", Value: "max-age=31536000; includeSubDomains"}}},
		{body: "header -Server", want: []HeaderOp{{Op: "delete", Field: "Server", Deferred: true}}},
		{body: "header +Link </a.css>", want: []HeaderOp{{Op: "add", Field: "Link", Value: "</a.css>"}}},
		{body: "header ?Cache-Control no-cache", want: []HeaderOp{{Op: "default", Field: "Cache-Control", Value: "no-cache", Deferred: true}}},
		{body: "header >Set-Cookie Secure secure", want: []HeaderOp{{Op: "replace", Field: "Set-Cookie", Find: "Secure", Replace: "secure", Deferred: true}}},
		{body: "header Location http:// https://", want: []HeaderOp{{Op: "replace", Field: "Location", Find: "http://", Replace: "https://"}}},
		{body: "header {\n\t\tX-Frame-Options DENY\n\t\t-X-Powered-*\n\t\tX-Content-Type-Options nosniff\n\t\tdefer\n\t}", want: []HeaderOp{
			{Op: "set", Field: "X-Frame-Options", Value: "DENY", Deferred: true},
			{Op: "delete", Field: "X-Powered-*", Deferred: true},
			{Op: "set", Field: "X-Content-Type-Options", Value: "nosniff", Deferred: true},
		}},
		{body: "header", wantErr: "Caddyfile:2:2: header: no field to change"},
		{body: "header @api X-A 1", wantErr: "header: no matcher named @api is defined"},
		{body: "header X-A", wantErr: "header: X-A needs a value"},
		{body: "header -Server x", wantErr: "header: -Server deletes the field and takes no value"},
		{body: "header Bad:Name x", wantErr: `header: "Bad:Name" is not a header field name`},
		{body: "header X-* x", wantErr: "header: a wildcard field (X-*) only deletes"},
		{body: "header X-Host {bogus}", wantErr: "unknown placeholder {bogus}"},
		{body: "header X-A b c d", wantErr: `header: unexpected argument "d"`},
	} {
		cfg, err := Parse("Caddyfile", []byte("example.com {\n\t"+tc.body+"\n}\n"))
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
		var got []HeaderOp
		for _, h := range cfg.Sites[0].Headers {
			for _, o := range h.Ops {
				o.Pos = Pos{}
				got = append(got, o)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.body, got, tc.want)
		}
	}
	// Several header directives in one site, in file order.
	cfg, err := Parse("Caddyfile", []byte("example.com {\n\theader X-A 1\n\theader -X-B\n}\n"))
	if err != nil || len(cfg.Sites[0].Headers) != 2 {
		t.Errorf("two header directives: %v, %d parsed", err, len(cfg.Sites[0].Headers))
	}
}
