package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Issue 4 acceptance, side by side: Apache httpd + mod_jk
// (scripts/apache-modjk.sh) and Tether loading the same workers.properties
// and uriworkermap.properties through import_jk, unchanged, in front of the
// same two Tomcat nodes. One recorded sequence of requests runs through
// both; every routing decision (the node that answered) must be the same.

// frontEnd is one of the two proxies under comparison.
type frontEnd struct {
	name     string
	base     string
	setState func(t *testing.T, member, state string) // active | disabled | stopped
	// setForce turns sticky_session_force on or off; nil when the
	// sequence has no sticky_session_force part.
	setForce func(t *testing.T, on bool)
	sessions map[string]*labSession // by the sequence's names
	counters map[string]int         // last counter seen per session
}

// modjkStep is one step of the recorded sequence: do runs it on a front end
// and returns the decision ("tomcat1") and a note for the table; compare
// says how the two front ends' decisions are compared.
type modjkStep struct {
	name    string
	do      func(t *testing.T, fe *frontEnd) (decision, note string)
	anyNode bool // new session while both nodes take new ones: any node, but the same set over the group
	group   string
}

// jkstatusFrontEnd is Apache + mod_jk at addr, its member states and
// sticky_session_force changed through jkstatus (lb worker "lb").
func jkstatusFrontEnd(addr string) *frontEnd {
	update := func(t *testing.T, query string) {
		t.Helper()
		u := fmt.Sprintf("http://%s/jkstatus?cmd=update&mime=txt&w=lb&%s", addr, query)
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("jkstatus: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "type=OK") {
			t.Fatalf("jkstatus %s: %d %s", u, resp.StatusCode, body)
		}
	}
	return &frontEnd{name: "Apache+mod_jk", base: "http://" + addr,
		setState: func(t *testing.T, member, state string) {
			t.Helper()
			update(t, "sw="+member+"&vwa="+map[string]string{"active": "a", "disabled": "d", "stopped": "s"}[state])
		},
		setForce: func(t *testing.T, on bool) {
			t.Helper()
			update(t, "vlf="+map[bool]string{true: "1", false: "0"}[on])
		}}
}

func TestModJKSideBySide(t *testing.T) {
	nodes := needTomcat(t)
	apa := startApacheJK(t)
	tetherAddr, ready, _ := startTetherLogged(t, fmt.Sprintf(`{
	admin 127.0.0.1:0
	log {
		level warn
	}
}

http://127.0.0.1:0 {
	trusted_proxies 127.0.0.0/8
	import_jk %q %q
}
`, apa.workers, apa.uriworkers))
	t.Logf("Tomcat nodes: tomcat1 ajp %s, tomcat2 ajp %s; Apache + mod_jk on %s; Tether (import_jk %s) on %s",
		nodes["tomcat1"].AJP, nodes["tomcat2"].AJP, apa.addr, apa.workers, tetherAddr)
	modjk := jkstatusFrontEnd(apa.addr)
	modjk.setForce = nil
	tether := &frontEnd{name: "Tether", base: "http://" + tetherAddr,
		setState: func(t *testing.T, member, state string) {
			t.Helper()
			setMemberState(t, ready.Admin, "lb", member, state)
		}}
	runModJKSequence(t, modjk, tether)
}

// runModJKSequence replays issue 4's sequence through both front ends,
// side by side, and fails on any routing decision that differs: new
// sessions, stickiness by cookie and by ;jsessionid, several cookies, a
// route after the second dot, a member disabled, then stopped, then (when
// both front ends can) sticky_session_force with a stopped member, and a
// member killed with -9.
func runModJKSequence(t *testing.T, modjk, tether *frontEnd) {
	fes := []*frontEnd{modjk, tether}
	for _, fe := range fes {
		fe.sessions, fe.counters = map[string]*labSession{}, map[string]int{}
	}

	// Steps on a session: by cookie or by ;jsessionid, checking that the
	// session's counter went on (replication kept it across a failover).
	session := func(name string, byPath bool) func(t *testing.T, fe *frontEnd) (string, string) {
		return func(t *testing.T, fe *frontEnd) (string, string) {
			s := fe.sessions[name]
			if s == nil {
				t.Fatalf("%s: no session %s", fe.name, name)
			}
			old := s.id
			s.base = fe.base
			r := s.get(t, byPath)
			if r.status != 200 {
				t.Fatalf("%s: session %s: status %d", fe.name, name, r.status)
			}
			c, _ := strconv.Atoi(r.kv["counter"])
			if c != fe.counters[name]+1 {
				t.Errorf("%s: session %s counter %d; want %d (session state lost)", fe.name, name, c, fe.counters[name]+1)
			}
			fe.counters[name] = c
			note := "counter " + r.kv["counter"]
			if s.id != old {
				note += ", renamed ." + routeOf(old) + " → ." + routeOf(s.id)
			}
			return r.node(), note
		}
	}
	// A new session; the first ones on tomcat1 and tomcat2 become S1 and S2.
	newSession := func(t *testing.T, fe *frontEnd) (string, string) {
		s := &labSession{base: fe.base}
		r := s.get(t, false)
		if r.status != 200 {
			t.Fatalf("%s: new session: status %d", fe.name, r.status)
		}
		note := "new"
		for _, name := range []string{"S1", "S2"} {
			if fe.sessions[name] == nil && r.node() == map[string]string{"S1": "tomcat1", "S2": "tomcat2"}[name] {
				fe.sessions[name], fe.counters[name] = s, 1
				note = "new: " + name
			}
		}
		return r.node(), note
	}
	// No session of Tomcat's, just the routing of a cookie header; an
	// answer other than 200 is the decision ("status 503").
	cookie := func(c string) func(t *testing.T, fe *frontEnd) (string, string) {
		return func(t *testing.T, fe *frontEnd) (string, string) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, fe.base+"/lab/info.jsp", nil)
			req.Header.Set("Cookie", c)
			r := labDo(t, req)
			if r.status != 200 {
				return "status " + strconv.Itoa(r.status), ""
			}
			return r.node(), ""
		}
	}
	state := func(member, st string) func(t *testing.T, fe *frontEnd) (string, string) {
		return func(t *testing.T, fe *frontEnd) (string, string) {
			fe.setState(t, member, st)
			if fe == modjk {
				return "-", "jkstatus vwa=" + st[:1]
			}
			return "-", "admin API " + st
		}
	}
	force := func(on bool) func(t *testing.T, fe *frontEnd) (string, string) {
		return func(t *testing.T, fe *frontEnd) (string, string) {
			fe.setForce(t, on)
			return "-", fmt.Sprintf("sticky_session_force %v", on)
		}
	}

	var steps []modjkStep
	for i := range 4 {
		steps = append(steps, modjkStep{name: fmt.Sprintf("new session %d", i+1), do: newSession, anyNode: true, group: "new1"})
	}
	steps = append(steps,
		modjkStep{name: "S1 by cookie", do: session("S1", false)},
		modjkStep{name: "S2 by cookie", do: session("S2", false)},
		modjkStep{name: "S1 by ;jsessionid", do: session("S1", true)},
		modjkStep{name: "S2 by ;jsessionid", do: session("S2", true)},
		modjkStep{name: "Cookie x.tomcat9; JSESSIONID=y.tomcat2", do: cookie("JSESSIONID=x.tomcat9; JSESSIONID=y.tomcat2")},
		modjkStep{name: "Cookie ABC.DEF.tomcat1 (route DEF.tomcat1)", do: cookie("JSESSIONID=ABC.DEF.tomcat1"), anyNode: true, group: "unknown"},
		modjkStep{name: "Cookie .tomcat2 (empty id, route tomcat2)", do: cookie("JSESSIONID=.tomcat2")},
		modjkStep{name: "disable tomcat1", do: state("tomcat1", "disabled")},
	)
	for i := range 4 {
		steps = append(steps, modjkStep{name: fmt.Sprintf("new session %d, tomcat1 disabled", i+5), do: newSession})
	}
	steps = append(steps,
		modjkStep{name: "S1 by cookie, tomcat1 disabled", do: session("S1", false)},
		modjkStep{name: "S1 by ;jsessionid, tomcat1 disabled", do: session("S1", true)},
		modjkStep{name: "S2 by cookie, tomcat1 disabled", do: session("S2", false)},
		modjkStep{name: "activate tomcat1", do: state("tomcat1", "active")},
		modjkStep{name: "S1 by cookie", do: session("S1", false)},
		modjkStep{name: "stop tomcat2", do: state("tomcat2", "stopped")},
		modjkStep{name: "S2 by cookie, tomcat2 stopped", do: session("S2", false)},
		modjkStep{name: "S2 by cookie (renamed), tomcat2 stopped", do: session("S2", false)},
		modjkStep{name: "new session 9, tomcat2 stopped", do: newSession},
		modjkStep{name: "Cookie x.tomcat2, tomcat2 stopped", do: cookie("JSESSIONID=x.tomcat2")},
		modjkStep{name: "activate tomcat2", do: state("tomcat2", "active")},
	)
	if modjk.setForce != nil && tether.setForce != nil {
		steps = append(steps,
			modjkStep{name: "sticky_session_force on", do: force(true)},
			modjkStep{name: "Cookie x.tomcat2, force", do: cookie("JSESSIONID=x.tomcat2")},
			modjkStep{name: "stop tomcat2, force", do: state("tomcat2", "stopped")},
			modjkStep{name: "Cookie x.tomcat2, tomcat2 stopped, force", do: cookie("JSESSIONID=x.tomcat2")},
			modjkStep{name: "Cookie x.tomcat1, tomcat2 stopped, force", do: cookie("JSESSIONID=x.tomcat1")},
			modjkStep{name: "activate tomcat2, force", do: state("tomcat2", "active")},
			modjkStep{name: "sticky_session_force off", do: force(false)},
		)
	}
	for i := range 4 {
		steps = append(steps, modjkStep{name: fmt.Sprintf("new session %d", i+10), do: newSession, anyNode: true, group: "new2"})
	}
	killed := len(steps)
	steps = append(steps,
		modjkStep{name: "S1 by cookie, tomcat1 killed", do: session("S1", false)},
		modjkStep{name: "S1 by cookie (renamed)", do: session("S1", false)},
		modjkStep{name: "S1 by ;jsessionid", do: session("S1", true)},
		modjkStep{name: "S2 by cookie", do: session("S2", false)},
		modjkStep{name: "new session 14, tomcat1 dead", do: newSession},
		modjkStep{name: "new session 15, tomcat1 dead", do: newSession},
	)

	type result struct{ decision, note string }
	got := make([][2]result, len(steps))
	for i, st := range steps {
		if i == killed {
			killTomcat(t, "tomcat1")
			t.Cleanup(func() { restartTomcat(t) })
		}
		for j, fe := range fes {
			d, n := st.do(t, fe)
			got[i][j] = result{d, n}
		}
	}

	// The table, then the verdict.
	var tb strings.Builder
	fmt.Fprintf(&tb, "%-3s %-42s | %-10s %-44s | %-10s %-44s | %s\n", "#", "step", "mod_jk", "", "Tether", "", "same")
	mismatches := 0
	groups := map[string][2][]string{}
	for i, st := range steps {
		a, b := got[i][0], got[i][1]
		same := a.decision == b.decision
		verdict := "yes"
		if st.anyNode {
			g := groups[st.group]
			g[0], g[1] = append(g[0], a.decision), append(g[1], b.decision)
			groups[st.group] = g
			verdict = "any node (group " + st.group + ")"
		} else if !same {
			verdict = "NO"
			mismatches++
		}
		if i == killed {
			fmt.Fprintf(&tb, "--- kill -9 tomcat1 ---\n")
		}
		fmt.Fprintf(&tb, "%-3d %-42s | %-10s %-44s | %-10s %-44s | %s\n", i+1, st.name, a.decision, a.note, b.decision, b.note, verdict)
	}
	for name, g := range groups {
		sa, sb := slices.Sorted(slices.Values(dedup(g[0]))), slices.Sorted(slices.Values(dedup(g[1])))
		same := slices.Equal(sa, sb)
		fmt.Fprintf(&tb, "group %s: mod_jk used %v, Tether used %v: same=%v\n", name, sa, sb, same)
		if !same {
			mismatches++
		}
	}
	t.Logf("routing decisions, Apache + mod_jk vs Tether:\n%s", tb.String())
	if mismatches > 0 {
		t.Fatalf("%d routing decisions differ between Apache + mod_jk and Tether", mismatches)
	}
}

// routeOf is the route of a session id: everything after the first '.'.
func routeOf(id string) string {
	_, r, _ := strings.Cut(id, ".")
	return r
}

func dedup(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
