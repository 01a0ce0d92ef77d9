package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// labApache is the lab's Apache configuration (testdata/tomcat-lab/conf/apache)
// rendered for the test's Tomcat pair: run/apache/httpd.conf with its
// workers.properties and uriworkermap.properties under dir.
type labApache struct {
	dir            string // run/apache
	conf, workers  string
	uriworkers     string
	jkPort, pbPort int
}

// renderLab fills in the lab's placeholders: ports, paths, the AJP secret
// of the test nodes. force sets worker.lb.sticky_session_force.
func renderLab(t *testing.T, run string, jkPort, pbPort int, force bool) *labApache {
	t.Helper()
	nodes := tomcatPair.p.Nodes()
	ajpPort := func(route string) string {
		_, p, _ := strings.Cut(nodes[route].AJP, ":")
		return p
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
	vals := map[string]string{
		"RUN": run, "APACHE_USER": usr, "APACHE_GROUP": grp, "APACHE_MODULES": "/usr/lib/apache2/modules",
		"JK_LOG_LEVEL": "info", "JK_MAINTAIN": "10", "APACHE_JK_PORT": strconv.Itoa(jkPort), "APACHE_PB_PORT": strconv.Itoa(pbPort),
		"TC1_AJP_PORT": ajpPort("tomcat1"), "TC2_AJP_PORT": ajpPort("tomcat2"), "TC1_ROUTE": "tomcat1", "TC2_ROUTE": "tomcat2",
		"AJP_SECRET": tomcatSecret, "JK_RECOVER_TIME": "20",
	}
	l := &labApache{dir: filepath.Join(run, "apache"), jkPort: jkPort, pbPort: pbPort}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(tomcatPair.p.Root, "testdata", "tomcat-lab", "conf", "apache")
	for _, f := range []string{"httpd.conf.tmpl", "workers.properties.tmpl", "uriworkermap.properties"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for k, v := range vals {
			s = strings.ReplaceAll(s, "@"+k+"@", v)
		}
		if force {
			s = strings.ReplaceAll(s, "worker.lb.sticky_session_force=false", "worker.lb.sticky_session_force=true")
		}
		dst := filepath.Join(l.dir, strings.TrimSuffix(f, ".tmpl"))
		if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l.conf, l.workers, l.uriworkers = filepath.Join(l.dir, "httpd.conf"), filepath.Join(l.dir, "workers.properties"), filepath.Join(l.dir, "uriworkermap.properties")
	return l
}

// startLabApache runs the real Apache with the lab's own httpd.conf
// (through scripts/apache-modjk.sh, which stops it by its PID at the end).
func startLabApache(t *testing.T) *labApache {
	t.Helper()
	needTomcat(t)
	ports, err := testpeers.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(tomcatPair.p.Dir, fmt.Sprintf("lab-%d", tomcatPair.nApa.Add(1)))
	l := renderLab(t, run, ports[0], ports[1], false)
	script := filepath.Join(tomcatPair.p.Root, "scripts/apache-modjk.sh")
	cmd := exec.CommandContext(t.Context(), "bash", script, "start", l.dir)
	cmd.Env = append(slices.Clone(tomcatPair.p.Env), "APACHE_PORT="+strconv.Itoa(l.jkPort),
		"APACHE_HTTPD_CONF="+l.conf+".lab", "JK_WORKERS_FILE="+l.workers+".lab", "JK_URIMAP_FILE="+l.uriworkers+".lab")
	for _, f := range []string{l.conf, l.workers, l.uriworkers} {
		if err := os.Rename(f, f+".lab"); err != nil {
			t.Fatal(err)
		}
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	runErr := cmd.Run()
	t.Cleanup(func() {
		out, err := exec.Command("bash", script, "stop", l.dir).CombinedOutput()
		if err != nil {
			t.Errorf("scripts/apache-modjk.sh stop: %v\n%s", err, out)
		}
		if t.Failed() {
			for _, f := range []string{"logs/error.log", "logs/mod_jk.log", "logs/access.log"} {
				if b, err := os.ReadFile(filepath.Join(l.dir, f)); err == nil {
					t.Logf("apache %s (last 4 KiB):\n%s", f, tail(string(b), 4096))
				}
			}
		}
	})
	if runErr != nil {
		t.Fatalf("scripts/apache-modjk.sh start (the lab's httpd.conf): %v\n%s%s", runErr, o.String(), e.String())
	}
	return l
}

// startTetherImportApache runs Tether on the lab's httpd.conf, rendered
// with Tether's own ports (the same Tomcat nodes), through import_apache;
// it returns the mod_jk site's address and the admin address.
func startTetherImportApache(t *testing.T, force bool) (jkAddr, pbAddr, admin string) {
	t.Helper()
	ports, err := testpeers.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	l := renderLab(t, filepath.Join(t.TempDir(), "run"), ports[0], ports[1], force)
	_, ready, _ := startTetherLogged(t, fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n\tlog {\n\t\tlevel warn\n\t}\n\timport_apache %q\n}\n", l.conf))
	for _, li := range ready.Listeners {
		switch {
		case strings.HasSuffix(li.Addr, ":"+strconv.Itoa(l.jkPort)):
			jkAddr = li.Addr
		case strings.HasSuffix(li.Addr, ":"+strconv.Itoa(l.pbPort)):
			pbAddr = li.Addr
		}
	}
	if jkAddr == "" || pbAddr == "" {
		t.Fatalf("tether listeners %+v; want the lab's two virtual hosts on %d and %d", ready.Listeners, l.jkPort, l.pbPort)
	}
	return jkAddr, pbAddr, ready.Admin
}

// TestImportApacheLabSideBySide is issue 16's first acceptance: the lab's
// own Apache configuration, run by Apache + mod_jk and imported by Tether
// with import_apache (the same httpd.conf, workers.properties and
// uriworkermap.properties, Tether's ports filled in), in front of the same
// two Tomcat nodes: issue 4's sequence (new sessions, stickiness by cookie
// and ;jsessionid, a member disabled, a member stopped,
// sticky_session_force, a member killed) routes every request the same
// way through both.
func TestImportApacheLabSideBySide(t *testing.T) {
	apa := startLabApache(t)
	jkAddr, _, admin := startTetherImportApache(t, false)
	jk2, _, admin2 := startTetherImportApache(t, true)
	modjk := jkstatusFrontEnd("127.0.0.1:" + strconv.Itoa(apa.jkPort))
	tether := &frontEnd{name: "Tether", base: "http://" + jkAddr}
	tether.setState = func(t *testing.T, member, state string) {
		t.Helper()
		a := admin
		if tether.base == "http://"+jk2 {
			a = admin2
		}
		setMemberState(t, a, "lb", member, state)
	}
	// Tether's sticky_force is its config's (sticky_session_force in
	// workers.properties): "on" switches to a second Tether that imported
	// the lab's files with sticky_session_force=true.
	tether.setForce = func(t *testing.T, on bool) {
		tether.base = "http://" + jkAddr
		if on {
			tether.base = "http://" + jk2
		}
	}
	t.Logf("Apache + mod_jk (lab httpd.conf) on 127.0.0.1:%d; Tether (import_apache of it) on %s, with sticky_session_force on %s", apa.jkPort, jkAddr, jk2)
	runModJKSequence(t, modjk, tether)
}

// TestImportApacheSharedWorker is issue 16's third acceptance: two
// VirtualHosts mounting one lb worker are one balancer in /api/status,
// and a member disabled through the admin API is disabled for both sites:
// new sessions through either host name avoid it, while its own sessions
// still reach it.
func TestImportApacheSharedWorker(t *testing.T) {
	nodes := needTomcat(t)
	port, err := testpeers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	workers := fmt.Sprintf("worker.list=lb\nworker.tomcat1.host=127.0.0.1\nworker.tomcat1.port=%s\nworker.tomcat2.host=127.0.0.1\nworker.tomcat2.port=%s\nworker.lb.type=lb\nworker.lb.balance_workers=tomcat1,tomcat2\nworker.lb.secret=%s\n",
		strings.Split(nodes["tomcat1"].AJP, ":")[1], strings.Split(nodes["tomcat2"].AJP, ":")[1], tomcatSecret)
	httpd := fmt.Sprintf(`Listen 127.0.0.1:%d
JkWorkersFile workers.properties
<VirtualHost *:%d>
    ServerName shop.test
    JkMount /lab/* lb
</VirtualHost>
<VirtualHost *:%d>
    ServerName admin.test
    JkMount /lab/session.jsp lb
    JkMount /lab/info.jsp lb
</VirtualHost>
`, port, port, port)
	for f, s := range map[string]string{"workers.properties": workers, "httpd.conf": httpd} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, ready, _ := startTetherLogged(t, fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n\timport_apache %q\n}\n", filepath.Join(dir, "httpd.conf")))
	st := status(t, ready.Admin)
	var names []string
	for _, b := range st.Balancers {
		names = append(names, b.Name)
	}
	t.Logf("/api/status balancers: %v", names)
	if len(st.Balancers) != 1 || st.Balancers[0].Name != "lb" {
		t.Fatalf("/api/status balancers = %v; want one, lb, for both virtual hosts", names)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	hostGet := func(host, path, session string) labResp {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		req.Host = host
		if session != "" {
			req.Header.Set("Cookie", "JSESSIONID="+session)
		}
		return labDo(t, req)
	}
	// A session on tomcat1, through the first site.
	var s1 string
	for i := 0; i < 6 && s1 == ""; i++ {
		if r := hostGet("shop.test", "/lab/session.jsp", ""); r.node() == "tomcat1" {
			s1 = r.setCookie
		}
	}
	if s1 == "" {
		t.Fatal("no new session landed on tomcat1")
	}
	setMemberState(t, ready.Admin, "lb", "tomcat1", "disabled")
	seen := map[string]int{}
	for _, host := range []string{"shop.test", "admin.test"} {
		for range 4 {
			r := hostGet(host, "/lab/info.jsp", "")
			seen[host+" new → "+r.node()]++
		}
		r := hostGet(host, "/lab/session.jsp", s1)
		seen[host+" session of tomcat1 → "+r.node()]++
	}
	t.Logf("tomcat1 disabled through the admin API (balancer lb): %v", seen)
	want := map[string]int{"shop.test new → tomcat2": 4, "admin.test new → tomcat2": 4,
		"shop.test session of tomcat1 → tomcat1": 1, "admin.test session of tomcat1 → tomcat1": 1}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("answers = %v; want %v (disabled for both sites, its session still served)", seen, want)
	}
	for _, m := range status(t, ready.Admin).Balancers[0].Members {
		t.Logf("member %s: state %s, requests %d (both sites' requests, one counter)", m.Name, m.State, m.Requests)
	}
}
