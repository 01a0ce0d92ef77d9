package config

import (
	"strings"
	"testing"
)

// TestStaticErrors: what try_files, root with matchers, handle_errors and
// the error directive refuse (the golden file static.Caddyfile shows what
// they accept).
func TestStaticErrors(t *testing.T) {
	for _, tc := range []struct{ src, wantErr string }{
		{"\troot * /srv\n\ttry_files index.html\n", `try_files: "index.html": want a path such as {path}, {path}/ or /index.html`},
		{"\troot * /srv\n\ttry_files {path} =200\n", `try_files: "=200": want =STATUS, an error status 400..599`},
		{"\troot * /srv\n\ttry_files {path} {\n\t\tpolicy biggest\n\t}\n", `policy: unknown policy "biggest"`},
		{"\troot * /srv\n\ttry_files {bogus}\n", "unknown placeholder {bogus}"},
		{"\terror\n", "error: want a status or a message"},
		{"\terror 200\n", `error: status "200": want an error status 400..599`},
		{"\terror oops 42\n", `error: status "42": want an error status 400..599`},
		{"\thandle_errors 99 {\n\t\trespond x\n\t}\n", `handle_errors: "99": want a status (404) or a class (5xx)`},
		{"\thandle_errors\n", "handle_errors: want a block of directives"},
		{"\thandle_errors {\n\t\ttls internal\n\t}\n", "tls belongs in the site block"},
		{"\thandle {\n\t\thandle_errors {\n\t\t\trespond x\n\t\t}\n\t}\n", "handle_errors belongs in the site block"},
		{"\thandle_errors {\n\t\tfile_server\n\t}\n", "file_server: no root"},
	} {
		if _, err := Parse("Caddyfile", []byte("a.example.com {\n"+tc.src+"}\n")); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v; want %q", tc.src, err, tc.wantErr)
		}
	}
	// A root with a matcher may give file_server and try_files their root
	// at run time; a respond in handle_errors without a status keeps the
	// error's (Status 0).
	cfg, err := Parse("Caddyfile", []byte("a.example.com {\n\troot /docs/* /srv/docs\n\ttry_files {path}\n\tfile_server\n\thandle_errors {\n\t\trespond x\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sites[0]
	cwd, err := Parse("Caddyfile", []byte("a.example.com {\n\ttry_files {path} /index.html\n\treverse_proxy 127.0.0.1:1\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tf := cwd.Sites[0].Routes[0].TryFiles; tf.Root != "." || len(cwd.Warnings) != 1 || !strings.Contains(cwd.Warnings[0].String(), "Caddyfile:2:2: warning: try_files: no root: files are looked up in the working directory") {
		t.Errorf("try_files without root: root %q, warnings %v; want the working directory, with a warning", tf.Root, cwd.Warnings)
	}
	if r := s.Routes[0]; r.Directive != "root" || r.Root != "/srv/docs" || r.Match.SinglePath() != "/docs/*" {
		t.Errorf("first route %+v; want root /srv/docs for /docs/*", r)
	}
	if st := s.ErrorRoutes[0].Routes[0].Respond.Status; st != 0 {
		t.Errorf("respond in handle_errors: status %d; want 0 (the error's)", st)
	}
}

// TestCaddyPluginErrors: a directive or global option Tether does not have
// says what it is: one of Caddy's own, Caddy v1's, a known plugin's (with
// its module), or, outside Caddy's standard names, probably a plugin's.
func TestCaddyPluginErrors(t *testing.T) {
	for _, tc := range []struct{ src, wantErr string }{
		{"a.com {\n\tforward_proxy {\n\t}\n}\n", "Caddyfile:2:2: forward_proxy is a Caddy plugin (github.com/caddyserver/forwardproxy), not part of Tether"},
		{"a.com {\n\thandle {\n\t\tcoraza_waf {\n\t\t}\n\t}\n}\n", "Caddyfile:3:3: coraza_waf is a Caddy plugin (github.com/corazawaf/coraza-caddy)"},
		{"a.com {\n\tnodejs app.js\n}\n", `Caddyfile:2:2: unknown directive "nodejs": not one of Caddy's standard directives, so a Caddy plugin's or a typo; Tether has no plugins`},
		{"a.com {\n\tforward_auth 127.0.0.1:9091\n}\n", "forward_auth is Caddy's, not supported by Tether"},
		{"a.com {\n\tbrowse /\n}\n", "browse is Caddy v1's: Caddy 2 and Tether spell it file_server browse"},
		{"a.com {\n\tbind 10.0.0.1\n}\n", "bind is Caddy's, not supported by Tether: give the IP in the site address"},
		{"a.com {\n\trevers_proxy 127.0.0.1:1\n}\n", `unknown directive "revers_proxy": not one of Caddy's standard directives, so a Caddy plugin's or a typo`},
		{"a.com {\n\thttp_port 80\n}\n", "http_port belongs in the global options block"},
		{"{\n\tlayer4 {\n\t}\n}\n", "Caddyfile:2:2: layer4 is a Caddy plugin (github.com/mholt/caddy-l4), not part of Tether"},
		{"{\n\tcrowdsec {\n\t}\n}\n", "crowdsec is a Caddy plugin"},
		{"{\n\tmy_option x\n}\n", `unknown global option "my_option": not one of Caddy's standard options, so a Caddy plugin's or a typo`},
		{"{\n\tacme_dns cloudflare x\n}\n", `acme_dns: provider "cloudflare" is a Caddy plugin (github.com/caddy-dns/cloudflare), not part of Tether`},
	} {
		if _, err := Parse("Caddyfile", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v; want %q", tc.src, err, tc.wantErr)
		}
	}
}
