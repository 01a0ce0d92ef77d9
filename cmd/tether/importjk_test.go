package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/config"
)

// TestImportJK runs "tether import-jk" on the lab's files and checks that
// the printed Caddyfile parses to the balancers import_jk makes of them.
func TestImportJK(t *testing.T) {
	const w, u = "../../examples/modjk/workers.properties", "../../examples/modjk/uriworkermap.properties"
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import-jk", w, u, "--site", "lab.example.com", "--doc-root", "/var/www/html"}, &stdout, &stderr); code != 0 {
		t.Fatalf("tether import-jk exited %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "examples/modjk/workers.properties:") || !strings.Contains(stderr.String(), ": warning: worker jkstatus is a status worker") {
		t.Errorf("stderr:\n%s\nwant warnings with file:line", stderr.String())
	}
	printed, err := config.Parse("printed", stdout.Bytes())
	if err != nil {
		t.Fatalf("printed Caddyfile does not parse: %v\n%s", err, stdout.String())
	}
	imported, err := config.Parse("Caddyfile", []byte("lab.example.com {\n\timport_jk "+w+" "+u+" {\n\t\tdoc_root /var/www/html\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, want := printed.Sites[0], imported.Sites[0]
	if len(got.Balancers) != 1 || len(want.Balancers) != 1 {
		t.Fatalf("balancers: printed %d, import_jk %d; want 1 each", len(got.Balancers), len(want.Balancers))
	}
	gb, wb := *got.Balancers[0], *want.Balancers[0]
	gb.Pos, wb.Pos = config.Pos{}, config.Pos{}
	wb.Source = "" // provenance of import_jk's balancer: the printed reverse_proxy has none
	for i := range gb.Members {
		gb.Members[i].Pos, wb.Members[i].Pos = config.Pos{}, config.Pos{}
	}
	if !reflect.DeepEqual(gb, wb) {
		t.Errorf("printed balancer = %+v\nimport_jk balancer = %+v", gb, wb)
	}
	if got.FileServer == nil || got.FileServer.Root != "/var/www/html" {
		t.Errorf("printed file_server = %+v; want root /var/www/html", got.FileServer)
	}
}

func TestImportJKErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{name: "no files", args: []string{"import-jk"}, code: 2, inStderr: "want WORKERS [URIWORKERMAP], got 0"},
		{name: "three files", args: []string{"import-jk", "a", "b", "c"}, code: 2, inStderr: "got 3 file names"},
		{name: "missing file", args: []string{"import-jk", "testdata/nope.properties"}, code: 1, inStderr: "read workers file"},
		{name: "bad site", args: []string{"import-jk", "../../examples/modjk/workers.properties", "--site", "ftp://x"}, code: 1, inStderr: "scheme \"ftp\" is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.inStderr) {
				t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.inStderr)
			}
		})
	}
}

// TestImportApacheCommand runs "tether import-apache" on
// examples/modjk/httpd.conf: the sites go to stdout and parse, the
// warnings to stderr with their file:line.
func TestImportApacheCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import-apache", "../../examples/modjk/httpd.conf"}, &stdout, &stderr); code != 0 {
		t.Fatalf("tether import-apache exited %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "http://apache.example.com:80, http://www.apache.example.com:80, http://:80 {") ||
		!strings.Contains(stdout.String(), "unmount /lab/static/* lb") {
		t.Errorf("stdout:\n%s\nwant the virtual host's site with its mounts", stdout.String())
	}
	if !strings.Contains(stderr.String(), "examples/modjk/httpd.conf:9:") {
		t.Errorf("stderr:\n%s\nwant warnings at httpd.conf lines", stderr.String())
	}
	if _, err := config.Parse("printed", stdout.Bytes()); err != nil {
		t.Errorf("printed Caddyfile does not parse: %v", err)
	}
	var e bytes.Buffer
	if code := run([]string{"import-apache"}, &bytes.Buffer{}, &e); code != 2 {
		t.Errorf("import-apache without a file: exit %d; want 2", code)
	}
}
