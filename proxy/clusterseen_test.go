package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/membership"
)

// seenView is a View of epoch with the named proxy members.
func seenView(epoch uint64, names ...string) *membership.View {
	v := &membership.View{Epoch: epoch}
	for _, n := range names {
		v.Members = append(v.Members, membership.Member{Name: n, Addr: netip.MustParseAddrPort("127.0.0.1:7946"),
			Meta: membership.Meta{Role: membership.RoleProxy, Healthy: true}})
	}
	return v
}

// seenString prints what Observe returns as "name:alive|gone:first-last",
// times in seconds after t0.
func seenString(t0 time.Time, ms []seenMember) string {
	var parts []string
	for _, m := range ms {
		st := "alive"
		if m.Gone {
			st = "gone"
		}
		parts = append(parts, fmt.Sprintf("%s:%s:%d-%d", m.Member.Name, st, int(m.First.Sub(t0)/time.Second), int(m.Last.Sub(t0)/time.Second)))
	}
	return strings.Join(parts, " ")
}

func TestClusterSeen(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	c := newClusterSeen(10*time.Minute, 3)
	for _, step := range []struct {
		name string
		v    *membership.View
		now  time.Time
		want string
	}{
		{name: "first view", v: seenView(1, "a", "b", "self"), now: at(0),
			want: "a:alive:0-0 b:alive:0-0 self:alive:0-0"},
		{name: "alive members are seen now", v: seenView(1, "a", "b", "self"), now: at(30 * time.Second),
			want: "a:alive:0-30 b:alive:0-30 self:alive:0-30"},
		{name: "b leaves: gone, last seen when found gone", v: seenView(2, "a", "self"), now: at(60 * time.Second),
			want: "a:alive:0-60 self:alive:0-60 b:gone:0-60"},
		{name: "a stale view does not bring b back", v: seenView(1, "a", "b", "self"), now: at(70 * time.Second),
			want: "a:alive:0-60 self:alive:0-60 b:gone:0-60"},
		{name: "c joins later, a leaves; gone listed newest first", v: seenView(3, "c", "self"), now: at(120 * time.Second),
			want: "c:alive:120-120 self:alive:0-120 a:gone:0-120 b:gone:0-60"},
		{name: "b comes back: first seen starts again", v: seenView(4, "b", "c", "self"), now: at(180 * time.Second),
			want: "b:alive:180-180 c:alive:120-180 self:alive:0-180 a:gone:0-120"},
		{name: "a forgotten 10 minutes after it went", v: seenView(4, "b", "c", "self"), now: at(120*time.Second + 10*time.Minute + time.Second),
			want: "b:alive:180-721 c:alive:120-721 self:alive:0-721"},
	} {
		got := seenString(t0, c.Observe(step.v, step.now))
		if got != step.want {
			t.Fatalf("%s: Observe(epoch %d %v, t0+%v) = %s; want %s", step.name, step.v.Epoch, viewNames(step.v), step.now.Sub(t0), got, step.want)
		}
	}
}

func viewNames(v *membership.View) []string {
	var out []string
	for _, m := range v.Members {
		out = append(out, m.Name)
	}
	return out
}

func TestClusterSeenKeepsAtMostMaxGone(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := newClusterSeen(10*time.Minute, 2)
	all := []string{"m1", "m2", "m3", "m4", "self"}
	c.Observe(seenView(1, all...), t0)
	// m1..m4 leave one a second apart.
	for i := range 4 {
		c.Observe(seenView(uint64(i+2), all[i+1:]...), t0.Add(time.Duration(i+1)*time.Second))
	}
	var gone []string
	for _, m := range c.Observe(seenView(5, "self"), t0.Add(5*time.Second)) {
		if m.Gone {
			gone = append(gone, m.Member.Name)
		}
	}
	if want := []string{"m4", "m3"}; !slices.Equal(gone, want) {
		t.Errorf("gone members with max 2 = %v; want the two most recent %v", gone, want)
	}
}

func TestClusterSeenNil(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var c *clusterSeen // no admin listener
	got := c.Observe(seenView(7, "a", "self"), now)
	if s := seenString(now, got); s != "a:alive:0-0 self:alive:0-0" {
		t.Errorf("nil recorder Observe = %s; want the view's members seen now", s)
	}
}
