package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestImportApacheRedirectsSideBySide runs one httpd.conf (mod_alias's
// Redirect and RedirectMatch, mod_rewrite's RewriteRule with and without
// [L], a DocumentRoot) in the real Apache httpd and in Tether through
// import_apache, and asks both for the same paths: each answer's status,
// Location (without the scheme and host, which name each server's own
// port) and body must be the same. Redirect /old matches /old and what is
// under it on a path segment boundary, never /older; a rewrite with [L]
// ends the rules, so /a/q serves the file b/q where the next rule would
// have redirected it.
func TestImportApacheRedirectsSideBySide(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/apache2"); err != nil {
		t.Fatalf("apache2 not installed (scripts/deps.sh installs it): %v", err)
	}
	root, err := filepath.Abs("../..") // the repository: scripts/apache-modjk.sh
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "tether-apache-redirect-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	docs := filepath.Join(dir, "htdocs")
	for f, body := range map[string]string{"ready.txt": "ready", "b/q": "file b/q", "older": "file older", "new/x": "file new/x",
		"landing/p": "file landing/p", "oldx/y": "file oldx/y", "app/q": "file app/q", "x/q": "file x/q"} {
		p := filepath.Join(docs, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	usr, grp := "www-data", "www-data"
	if os.Getuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		usr, grp = u.Username, u.Username
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			grp = g.Name
		}
	}
	ports, err := testpeers.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	render := func(run string, port int) string {
		if err := os.MkdirAll(run, 0o755); err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf(`ServerRoot %[1]s
Listen 127.0.0.1:%[2]d
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s/rt
Mutex file:%[1]s/rt default
ErrorLog %[1]s/logs/error.log
User %[4]s
Group %[5]s
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so

<VirtualHost 127.0.0.1:%[2]d>
    ServerName 127.0.0.1
    DocumentRoot %[3]s
    <Directory %[3]s>
        Require all granted
    </Directory>
    Redirect /old /new
    Redirect permanent /moved/ /landing/
    Redirect /joined /together/
    RedirectMatch 301 ^/img/(.*)\.gif$ /images/$1.png
    RewriteEngine on
    RewriteRule ^/a/(.*)$ /b/$1 [L]
    RewriteRule ^/b/(.*)$ /c/$1 [R=302]
    RewriteRule ^/w/(.*)$ /x/$1
    RewriteRule ^/x/(.*)$ /app/$1 [PT]
    RewriteRule ^/app/(.*)$ /never/$1 [R]
</VirtualHost>
`, run, port, docs, usr, grp)
		f := filepath.Join(run, "httpd.conf")
		if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	apacheRun := filepath.Join(dir, "apache")
	apacheConf := render(apacheRun, ports[0])
	script := filepath.Join(root, "scripts", "apache-modjk.sh")
	cmd := exec.CommandContext(t.Context(), "bash", script, "start", apacheRun)
	cmd.Env = append(os.Environ(), "APACHE_PORT="+strconv.Itoa(ports[0]), "APACHE_HTTPD_CONF="+apacheConf+".in", "APACHE_READY_PATH=/ready.txt")
	if err := os.Rename(apacheConf, apacheConf+".in"); err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/apache-modjk.sh start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("bash", script, "stop", apacheRun).CombinedOutput(); err != nil {
			t.Errorf("scripts/apache-modjk.sh stop: %v\n%s", err, out)
		}
	})
	tetherConf := render(filepath.Join(dir, "tether"), ports[1])
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import-apache", tetherConf}, &stdout, &stderr); code != 0 {
		t.Fatalf("tether import-apache: exit %d\n%s", code, stderr.String())
	}
	t.Logf("tether import-apache:\n%s%s", stdout.String(), stderr.String())
	startTether(t, fmt.Sprintf("{\n\tadmin off\n\timport_apache %q\n}\n", tetherConf))

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := func(port int, path string) string {
		t.Helper()
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("GET %s%s: %v", base, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		loc := strings.TrimPrefix(resp.Header.Get("Location"), base)
		out := strconv.Itoa(resp.StatusCode)
		if loc != "" {
			out += " → " + loc
		}
		if resp.StatusCode == 200 {
			out += " " + strconv.Quote(string(body))
		}
		return out
	}
	paths := []string{"/old", "/old/", "/old/x", "/old/x?q=1", "/older", "/oldx/y", "/moved/p", "/moved/p?a=b", "/moved", "/joined", "/joined/x",
		"/img/a.gif", "/img/a.gif?z=1", "/img/a.png", "/a/q", "/b/q", "/w/q", "/x/q", "/app/q", "/c/q"}
	same := 0
	var table []string
	for _, p := range paths {
		a, b := ask(ports[0], p), ask(ports[1], p)
		table = append(table, fmt.Sprintf("%-16s httpd: %-28s tether: %s", p, a, b))
		if a == b {
			same++
			continue
		}
		t.Errorf("GET %s: httpd answers %s, Tether %s", p, a, b)
	}
	t.Logf("%d of %d paths answered alike:\n%s", same, len(paths), strings.Join(table, "\n"))
	// The points of the test, whatever both do elsewhere.
	for p, want := range map[string]string{"/older": `200 "file older"`, "/old/x": "302 → /new/x", "/a/q": `200 "file b/q"`} {
		if got := ask(ports[1], p); got != want {
			t.Errorf("Tether GET %s = %s; want %s", p, got, want)
		}
	}
}
