package replication

import (
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	v1 := MakeVersion(t0, 0)
	v2 := MakeVersion(t0, 1)
	exp1 := t0.Add(30 * time.Minute)
	exp2 := t0.Add(40 * time.Minute)
	live := func(route, origin string, v Version, exp time.Time) Entry {
		return Entry{Balancer: "app", Key: "s1", Route: route, Origin: origin, Version: v, Expires: exp}
	}
	tomb := func(origin string, v Version, exp time.Time) Entry {
		return Entry{Balancer: "app", Key: "s1", Origin: origin, Version: v, Expires: exp, Deleted: true}
	}
	for _, tc := range []struct {
		name string
		a, b Entry
		want Entry
	}{
		{name: "higher version wins", a: live("t1", "n1", v1, exp1), b: live("t2", "n1", v2, exp1), want: live("t2", "n1", v2, exp1)},
		{name: "higher version wins whatever the node", a: live("t1", "zz", v1, exp1), b: live("t2", "aa", v2, exp1), want: live("t2", "aa", v2, exp1)},
		{name: "equal version: greater node name", a: live("t1", "n2", v1, exp1), b: live("t2", "n1", v1, exp1), want: live("t1", "n2", v1, exp1)},
		{name: "identical", a: live("t1", "n1", v1, exp1), b: live("t1", "n1", v1, exp1), want: live("t1", "n1", v1, exp1)},
		{name: "expiry is the later", a: live("t1", "n1", v2, exp1), b: live("t2", "n1", v1, exp2), want: live("t1", "n1", v2, exp2)},
		{name: "refresh: same version later expiry", a: live("t1", "n1", v1, exp1), b: live("t1", "n1", v1, exp2), want: live("t1", "n1", v1, exp2)},
		{name: "newer tombstone deletes", a: live("t1", "n1", v1, exp2), b: tomb("n2", v2, exp1), want: tomb("n2", v2, exp2)},
		{name: "older tombstone loses to newer pin", a: tomb("n2", v1, exp2), b: live("t1", "n1", v2, exp1), want: live("t1", "n1", v2, exp2)},
		{name: "equal version and node: tombstone wins", a: live("t1", "n1", v1, exp1), b: tomb("n1", v1, exp1), want: tomb("n1", v1, exp1)},
		{name: "equal version and node: greater route (clock set back)", a: live("t1", "n1", v1, exp1), b: live("t2", "n1", v1, exp1), want: live("t2", "n1", v1, exp1)},
		{name: "two tombstones", a: tomb("n1", v1, exp2), b: tomb("n2", v2, exp1), want: tomb("n2", v2, exp2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Merge(tc.a, tc.b); got != tc.want {
				t.Errorf("Merge(a, b) = %+v; want %+v", got, tc.want)
			}
			if got := Merge(tc.b, tc.a); got != tc.want {
				t.Errorf("Merge(b, a) = %+v; want %+v", got, tc.want)
			}
			if got := Merge(tc.a, tc.a); got != tc.a {
				t.Errorf("Merge(a, a) = %+v; want a = %+v", got, tc.a)
			}
		})
	}
}

// TestMergeLaws checks associativity and commutativity over a grid of
// entries, which is what makes replicas converge whatever the delivery order.
func TestMergeLaws(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var es []Entry
	for _, v := range []Version{MakeVersion(t0, 0), MakeVersion(t0, 1)} {
		for _, o := range []string{"n1", "n2"} {
			for _, r := range []string{"", "t1", "t2"} {
				for _, exp := range []time.Time{t0.Add(time.Minute), t0.Add(time.Hour)} {
					es = append(es, Entry{Balancer: "b", Key: "k", Route: r, Origin: o, Version: v, Expires: exp, Deleted: r == ""})
				}
			}
		}
	}
	for _, a := range es {
		for _, b := range es {
			if Merge(a, b) != Merge(b, a) {
				t.Fatalf("Merge not commutative for %+v, %+v", a, b)
			}
			for _, c := range es {
				if l, r := Merge(Merge(a, b), c), Merge(a, Merge(b, c)); l != r {
					t.Fatalf("Merge not associative: (a·b)·c = %+v; a·(b·c) = %+v", l, r)
				}
			}
		}
	}
}

func TestMergeMemberState(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	ms := func(state, origin string, v Version) MemberState {
		return MemberState{Balancer: "app", Member: "t1", State: state, Origin: origin, Version: v}
	}
	for _, tc := range []struct {
		name string
		a, b MemberState
		want MemberState
	}{
		{name: "higher version", a: ms("disabled", "n1", MakeVersion(t0, 1)), b: ms("active", "n2", MakeVersion(t0, 0)), want: ms("disabled", "n1", MakeVersion(t0, 1))},
		{name: "tie: node name", a: ms("disabled", "n1", MakeVersion(t0, 0)), b: ms("stopped", "n2", MakeVersion(t0, 0)), want: ms("stopped", "n2", MakeVersion(t0, 0))},
		{name: "tie: state", a: ms("disabled", "n1", MakeVersion(t0, 0)), b: ms("stopped", "n1", MakeVersion(t0, 0)), want: ms("stopped", "n1", MakeVersion(t0, 0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MergeMemberState(tc.a, tc.b); got != tc.want {
				t.Errorf("MergeMemberState(a, b) = %+v; want %+v", got, tc.want)
			}
			if got := MergeMemberState(tc.b, tc.a); got != tc.want {
				t.Errorf("MergeMemberState(b, a) = %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestClock(t *testing.T) {
	var c clock
	t0 := time.Unix(1_700_000_000, 0)
	v1 := c.tick(t0)
	v2 := c.tick(t0)
	if v2 <= v1 || v1.Wall() != t0 || v2.Logical() != 1 {
		t.Errorf("tick twice at t0 = %v, %v; want increasing with logical 0, 1", v1, v2)
	}
	// The clock going back does not make versions go back.
	if v3 := c.tick(t0.Add(-time.Hour)); v3 <= v2 {
		t.Errorf("tick after clock set back = %v; want > %v", v3, v2)
	}
	// Observing a peer's later version moves past it.
	remote := MakeVersion(t0.Add(10*time.Second), 5)
	if !c.observe(remote, t0, time.Minute) {
		t.Fatalf("observe(%v) within skew = false", remote)
	}
	if v := c.tick(t0); v <= remote {
		t.Errorf("tick after observing %v = %v; want greater", remote, v)
	}
	// A version beyond the skew does not drag the clock.
	wild := MakeVersion(t0.Add(time.Hour), 0)
	if c.observe(wild, t0, time.Minute) {
		t.Errorf("observe(%v) an hour ahead = true; want false", wild)
	}
	if v := c.tick(t0); v >= wild {
		t.Errorf("tick after wild observe = %v; want below %v", v, wild)
	}
}
