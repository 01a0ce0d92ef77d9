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
		{body: "\tencode {\n\t\tmatch {\n\t\t\theader Content-Type text/*\n\t\t}\n\t}", wantErr: "Caddyfile:3:3: encode: match is not supported yet"},
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
