package config

import (
	"strings"
	"testing"
)

// TestHandleResponseErrors: what a reverse_proxy's intercepting options
// refuse, at the file, line and column of the mistake.
func TestHandleResponseErrors(t *testing.T) {
	rp := func(opts string) string {
		return "a.com {\n\treverse_proxy 10.0.0.1:80 {\n" + opts + "\t}\n}\n"
	}
	for _, tc := range []struct{ name, src, want string }{
		{"copy_response outside", "a.com {\n\tcopy_response\n}\n",
			"Caddyfile:2:2: copy_response belongs in a reverse_proxy's handle_response block"},
		{"copy_response_headers in handle", "a.com {\n\thandle {\n\t\tcopy_response_headers\n\t}\n}\n",
			"Caddyfile:3:3: copy_response_headers belongs in a reverse_proxy's handle_response block"},
		{"unknown matcher", rp("\t\thandle_response @x {\n\t\t\trespond 1\n\t\t}\n"),
			"Caddyfile:3:19: handle_response: no response matcher named @x is defined in this reverse_proxy block"},
		{"request matcher", "a.com {\n\t@get method GET\n" + rp("\t\thandle_response @get {\n\t\t}\n")[8:],
			"Caddyfile:4:19: handle_response: no response matcher named @get"},
		{"inline matcher", rp("\t\thandle_response status 500 {\n\t\t}\n"),
			"Caddyfile:3:19: handle_response: \"status\": want a named response matcher"},
		{"no block", rp("\t\thandle_response\n"),
			"Caddyfile:3:3: handle_response: want a block of directives"},
		{"replace_status without status", rp("\t\treplace_status\n"),
			"Caddyfile:3:3: replace_status: want [@matcher] STATUS"},
		{"replace_status bad status", rp("\t\t@e status 5xx\n\t\treplace_status @e 99\n"),
			"Caddyfile:4:21: replace_status: status \"99\": want a status code 100..599 or a placeholder"},
		{"replace_status with a block", rp("\t\treplace_status 200 {\n\t\t}\n"),
			"Caddyfile:3:22: replace_status takes no block; routes go in handle_response"},
		{"bad response condition", rp("\t\t@e {\n\t\t\tpath /x\n\t\t}\n"),
			"Caddyfile:4:4: unknown response matcher condition \"path\""},
		{"bad status class", rp("\t\t@e status 6xx\n"),
			"Caddyfile:3:13: @e: status \"6xx\": want a status code (404) or a class (4xx)"},
		{"matcher twice", rp("\t\t@e status 500\n\t\t@e status 502\n"),
			"Caddyfile:4:3: response matcher @e is defined twice (first at Caddyfile:3:3)"},
		{"include and exclude", rp("\t\thandle_response {\n\t\t\tcopy_response_headers {\n\t\t\t\tinclude A\n\t\t\t\texclude B\n\t\t\t}\n\t\t}\n"),
			"Caddyfile:4:4: copy_response_headers: include or exclude, not both"},
		{"copy_response bad status", rp("\t\thandle_response {\n\t\t\tcopy_response 2000\n\t\t}\n"),
			"Caddyfile:4:18: copy_response: status \"2000\""},
		{"copy_response unknown placeholder", rp("\t\thandle_response {\n\t\t\tcopy_response {nope}\n\t\t}\n"),
			"Caddyfile:4:18: unknown placeholder {nope}"},
		{"bad method", "a.com {\n\tmethod /x G:ET\n}\n",
			"Caddyfile:2:12: method: \"G:ET\" is not a method"},
		{"method without one", "a.com {\n\tmethod\n}\n",
			"Caddyfile:2:2: method: want 1 argument(s), got 0"},
		{"site directive in handle_response", rp("\t\thandle_response {\n\t\t\ttls internal\n\t\t}\n"),
			"Caddyfile:4:4: tls belongs in the site block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("Caddyfile", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v; want %q", err, tc.want)
			}
		})
	}
}
