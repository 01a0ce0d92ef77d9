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
