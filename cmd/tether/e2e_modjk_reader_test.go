package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestModJKReaderSideBySide checks, on the real mod_jk 1.2.48 and on
// Tether's import_jk of the same files, what issue 16 says mod_jk does
// with files Tether used to read differently: a repeated uriworkermap
// pattern keeps its last worker, an empty value is skipped (host= stays
// localhost), a repeated lb key keeps the last value, a host mod_jk cannot
// resolve (a shell $VAR) stops its member, an ajp12 worker does not stop
// the rest of the file, JSESSIONID=.tomcat2 goes to tomcat2, and with one
// of three members disabled new sessions split evenly over the other two.
func TestModJKReaderSideBySide(t *testing.T) {
	nodes := needTomcat(t)
	dir := t.TempDir()
	tc1, tc2 := nodes["tomcat1"].AJP, nodes["tomcat2"].AJP
	_, p1, _ := strings.Cut(tc1, ":")
	_, p2, _ := strings.Cut(tc2, ":")
	workers := fmt.Sprintf(`worker.list=lb,solo,old,jkstatus
worker.node.type=ajp13
worker.node.secret=%s
# tomcat1: an empty host is skipped, so the default localhost stays
worker.tomcat1.reference=worker.node
worker.tomcat1.host=
worker.tomcat1.port=%s
# tomcat2: disabled (its own sessions only)
worker.tomcat2.reference=worker.node
worker.tomcat2.host=127.0.0.1
worker.tomcat2.port=%s
worker.tomcat2.activation=D
# tomcat3: a second member on tomcat1's connector, route tomcat3
worker.tomcat3.reference=worker.node
worker.tomcat3.host=127.0.0.1
worker.tomcat3.port=%s
# tomcat4: a shell variable mod_jk cannot resolve
worker.tomcat4.reference=worker.node
worker.tomcat4.host=$TOMCAT_IP
worker.tomcat4.port=%s
worker.lb.type=lb
worker.lb.balance_workers=tomcat1,tomcat2,tomcat3,tomcat4
worker.lb.sticky_session=false
worker.lb.sticky_session=true
worker.solo.reference=worker.node
worker.solo.host=127.0.0.1
worker.solo.port=%s
worker.old.type=ajp12
worker.old.host=127.0.0.1
worker.old.port=1
worker.jkstatus.type=status
`, tomcatSecret, p1, p2, p1, p1, p1)
	uri := "/lab/*=solo\n/lab/*=lb\n/old/*=old\n/jkstatus=jkstatus\n"
	wf, uf := filepath.Join(dir, "workers.properties"), filepath.Join(dir, "uriworkermap.properties")
	if err := os.WriteFile(wf, []byte(workers), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(uf, []byte(uri), 0o644); err != nil {
		t.Fatal(err)
	}
	apa := startApacheJK(t, "JK_WORKERS_FILE="+wf, "JK_URIMAP_FILE="+uf)
	tetherAddr, ready, logs := startTetherLogged(t, fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n}\n\nhttp://127.0.0.1:0 {\n\ttrusted_proxies 127.0.0.0/8\n\timport_jk %q %q\n}\n", wf, uf))
	_ = logs

	type fe struct {
		name, base string
		counts     func(t *testing.T) map[string]int // requests (elected) per member
		state      func(t *testing.T, member string) string
	}
	jkprop := func(t *testing.T) map[string]string {
		t.Helper()
		resp, err := client.Get("http://" + apa.addr + "/jkstatus?mime=prop")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]string{}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				out[k] = v
			}
		}
		return out
	}
	fes := []fe{
		{name: "Apache+mod_jk", base: "http://" + apa.addr,
			counts: func(t *testing.T) map[string]int {
				p := jkprop(t)
				out := map[string]int{}
				for _, m := range []string{"tomcat1", "tomcat2", "tomcat3", "tomcat4"} {
					out[m], _ = strconv.Atoi(p["worker."+m+".elected"])
				}
				return out
			},
			state: func(t *testing.T, m string) string {
				return map[string]string{"ACT": "active", "DIS": "disabled", "STP": "stopped"}[jkprop(t)["worker."+m+".activation"]]
			}},
		{name: "Tether", base: "http://" + tetherAddr,
			counts: func(t *testing.T) map[string]int {
				out := map[string]int{}
				for _, b := range status(t, ready.Admin).Balancers {
					if b.Name != "lb" {
						continue
					}
					for _, m := range b.Members {
						out[m.Name] = int(m.Requests)
					}
				}
				return out
			},
			state: func(t *testing.T, m string) string {
				for _, b := range status(t, ready.Admin).Balancers {
					for _, mm := range b.Members {
						if b.Name == "lb" && mm.Name == m {
							return mm.State
						}
					}
				}
				return "missing"
			}},
	}
	get := func(t *testing.T, url, cookie string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		r := labDo(t, req)
		if r.status != 200 {
			return "status " + strconv.Itoa(r.status)
		}
		return r.node()
	}
	var table strings.Builder
	row := func(what string, got [2]string, same bool) {
		v := "same"
		if !same {
			v = "DIFFERENT"
			t.Errorf("%s: mod_jk %s, Tether %s", what, got[0], got[1])
		}
		fmt.Fprintf(&table, "%-62s | %-22s | %-22s | %s\n", what, got[0], got[1], v)
	}
	both := func(what string, f func(t *testing.T, e fe) string) {
		var got [2]string
		for i, e := range fes {
			got[i] = f(t, e)
		}
		row(what, got, got[0] == got[1])
	}
	both("tomcat4 (host=$TOMCAT_IP): member state", func(t *testing.T, e fe) string { return e.state(t, "tomcat4") })
	both("tomcat2 (activation=D): member state", func(t *testing.T, e fe) string { return e.state(t, "tomcat2") })
	both("30 new sessions over tomcat1, tomcat3 (tomcat2 disabled)", func(t *testing.T, e fe) string {
		before := e.counts(t)
		for range 30 {
			if n := get(t, e.base+"/lab/info.jsp", ""); n != "tomcat1" {
				t.Fatalf("%s: new request answered by %s; want tomcat1's connector (members tomcat1, tomcat3)", e.name, n)
			}
		}
		after := e.counts(t)
		return fmt.Sprintf("tomcat1 %d, tomcat3 %d", after["tomcat1"]-before["tomcat1"], after["tomcat3"]-before["tomcat3"])
	})
	both("Cookie a.tomcat2: /lab/* is lb's (the last of two)", func(t *testing.T, e fe) string { return get(t, e.base+"/lab/info.jsp", "JSESSIONID=a.tomcat2") })
	both("Cookie .tomcat2 (empty id)", func(t *testing.T, e fe) string { return get(t, e.base+"/lab/info.jsp", "JSESSIONID=.tomcat2") })
	both("Cookie a.tomcat4 (its member stopped)", func(t *testing.T, e fe) string { return get(t, e.base+"/lab/info.jsp", "JSESSIONID=a.tomcat4") })
	// ajp12: mod_jk tries it (and fails: nothing speaks AJP12 on port 1),
	// Tether does not import it; both still serve the rest of the file.
	var old [2]string
	for i, e := range fes {
		old[i] = get(t, e.base+"/old/x", "")
	}
	fmt.Fprintf(&table, "%-62s | %-22s | %-22s | %s\n", "/old/x, mounted on the ajp12 worker old", old[0], old[1], "not proxied by either (expected)")
	if !strings.HasPrefix(old[0], "status 5") || old[1] != "status 404" {
		t.Errorf("/old/x: mod_jk %s, Tether %s; want a 5xx from mod_jk's failed AJP12 attempt and Tether's 404 (not imported)", old[0], old[1])
	}
	t.Logf("mod_jk 1.2.48 and Tether on one workers.properties:\n%-62s | %-22s | %-22s |\n%s", "check", "Apache + mod_jk", "Tether (import_jk)", table.String())
}
