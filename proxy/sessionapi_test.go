package proxy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSessionInfo checks what Server.Session says about sessions of a
// jvmroute balancer (its own route, a pin, a stopped member's failover,
// sticky_force, an unknown route) and of a learn balancer, and that
// DeleteSession and MoveSession change where they go.
func TestSessionInfo(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	srv, _, tab := startProxyWithTable(t, fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:0 {
	reverse_proxy /j/* {
		name jv
		to a=%s b=%s
	}
	reverse_proxy /f/* {
		name forced
		to a=%s b=%s
		sticky_force on
	}
	reverse_proxy /l/* {
		name learned
		to a=%s b=%s
		sticky learn SID
	}
}
`, a.URL, b.URL, a.URL, b.URL, a.URL, b.URL), Options{})
	now := time.Now()
	check := func(bal, id, member, reason, why string) {
		t.Helper()
		info, err := srv.Session(bal, id, now)
		if err != nil {
			t.Fatalf("Session(%s, %s): %v", bal, id, err)
		}
		if info.Member != member || info.Reason != reason || !strings.Contains(info.Why, why) {
			t.Errorf("Session(%s, %s) = %s (%s): %s; want %s (%s) with %q", bal, id, info.Member, info.Reason, info.Why, member, reason, why)
		}
	}
	check("jv", "X.a", "a", "sticky", "the id's route a names a member")
	check("jv", "X.zz", "", "balanced", "no member has the route zz")
	check("jv", "X", "", "balanced", "carries no route")
	check("learned", "s1", "", "balanced", "no learned entry")
	if _, err := tab.Set("jv", "X.a", "b", now); err != nil {
		t.Fatal(err)
	}
	check("jv", "X.a", "b", "pinned", "pinned to b by p1")
	info, _ := srv.Session("jv", "X.a", now)
	if info.Entry == nil || info.Entry.Kind != "pin" || info.Entry.Route != "b" || info.Entry.ExpiresIn <= 0 {
		t.Errorf("entry = %+v; want a live pin to b", info.Entry)
	}
	if _, err := srv.DeleteSession("jv", "X.a", now); err != nil {
		t.Fatal(err)
	}
	check("jv", "X.a", "a", "sticky", "names a member")
	if _, err := srv.MoveSession("jv", "X.a", "b", now); err != nil {
		t.Fatal(err)
	}
	check("jv", "X.a", "b", "pinned", "pinned to b")
	if err := srv.Balancer("jv").SetState("a", 2); err != nil { // stopped
		t.Fatal(err)
	}
	check("jv", "Y.a", "b", "failover", "cannot take it: it fails over to b")
	if err := srv.Balancer("forced").SetState("a", 2); err != nil {
		t.Fatal(err)
	}
	check("forced", "Y.a", "", "none", "sticky_force is on")
	if _, err := srv.MoveSession("learned", "s1", "a", now); err != nil {
		t.Fatal(err)
	}
	check("learned", "s1", "a", "learned", "recorded by p1")

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"unknown balancer", errOf(srv.Session("nope", "X.a", now)), ErrNotFound},
		{"move to an unknown member", errOf(srv.MoveSession("jv", "X.a", "zz", now)), ErrNotFound},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: error %v; want %v", tc.name, tc.err, tc.want)
		}
	}
}

func errOf(_ SessionInfo, err error) error { return err }
