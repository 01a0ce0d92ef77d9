package routing

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// mustTable builds a table or fails the test.
func mustTable(t testing.TB, opts Options, members ...Member) *Table {
	t.Helper()
	tab, err := NewTable(members, opts)
	if err != nil {
		t.Fatalf("NewTable(%+v) = %v", members, err)
	}
	return tab
}

// setHealthy marks the named members of tab healthy or not.
func setHealthy(t testing.TB, tab *Table, healthy bool, names ...string) {
	t.Helper()
	for _, n := range names {
		i, ok := tab.Index(n)
		if !ok {
			t.Fatalf("Index(%q) = _, false", n)
		}
		tab.Members()[i].Load.Healthy.Store(healthy)
	}
}

// pickName returns the chosen member's name, or the error text.
func pickName(tab *Table, req *Request) string {
	d, err := tab.Pick(req)
	if err != nil {
		return err.Error()
	}
	return d.Member.Name
}

func sid(raw string) SessionID {
	s, ok := ParseSessionID(raw)
	if !ok {
		panic("bad session id " + raw)
	}
	return s
}

// failoverMembers is the fleet the Pick rules are tested on: t1 prefers r
// (a disabled hot standby), t1-t3 replicate within d1, t4 and t5 stand
// alone.
func failoverMembers() []Member {
	return []Member{
		{Name: "t1", Domain: "d1", Redirect: "r", Weight: 1},
		{Name: "r", State: Disabled, Weight: 1},
		{Name: "t2", Domain: "d1", Weight: 1},
		{Name: "t3", Domain: "d1", Weight: 1},
		{Name: "t4", Weight: 1},
		{Name: "t5", Weight: 1},
	}
}

func TestPick(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(ms []Member) // changes the fleet before NewTable
		down    []string          // unhealthy members
		force   bool
		req     Request
		exclude []string
		want    []string // acceptable members (one of)
		reason  Reason
		from    string
		wantErr error
	}{
		{name: "sticky", req: Request{Session: sid("A.t2"), HasSession: true}, want: []string{"t2"}, reason: ReasonSticky},
		{name: "disabled keeps its sessions", req: Request{Session: sid("A.r"), HasSession: true}, want: []string{"r"}, reason: ReasonSticky},
		{name: "stopped fails over", mod: state("t4", Stopped), req: Request{Session: sid("A.t4"), HasSession: true},
			want: []string{"t1", "t2", "t3", "t5"}, reason: ReasonFailover, from: "t4"},
		{name: "unhealthy fails over", down: []string{"t4"}, req: Request{Session: sid("A.t4"), HasSession: true},
			want: []string{"t1", "t2", "t3", "t5"}, reason: ReasonFailover, from: "t4"},
		{name: "unhealthy disabled fails over", down: []string{"r"}, req: Request{Session: sid("A.r"), HasSession: true},
			want: []string{"t1", "t2", "t3", "t4", "t5"}, reason: ReasonFailover, from: "r"},
		{name: "sticky_force refuses", down: []string{"t4"}, force: true, req: Request{Session: sid("A.t4"), HasSession: true}, wantErr: ErrStickyForced},
		{name: "sticky_force on stopped", mod: state("t4", Stopped), force: true, req: Request{Session: sid("A.t4"), HasSession: true}, wantErr: ErrStickyForced},
		{name: "sticky_force usable", force: true, req: Request{Session: sid("A.t4"), HasSession: true}, want: []string{"t4"}, reason: ReasonSticky},
		{name: "redirect to hot standby", down: []string{"t1"}, req: Request{Session: sid("A.t1"), HasSession: true},
			want: []string{"r"}, reason: ReasonRedirect, from: "t1"},
		{name: "redirect active", mod: state("r", Active), down: []string{"t1"}, req: Request{Session: sid("A.t1"), HasSession: true},
			want: []string{"r"}, reason: ReasonRedirect, from: "t1"},
		{name: "redirect stopped then domain", mod: state("r", Stopped), down: []string{"t1"}, req: Request{Session: sid("A.t1"), HasSession: true},
			want: []string{"t2", "t3"}, reason: ReasonDomain, from: "t1"},
		{name: "redirect down then domain", down: []string{"t1", "r"}, req: Request{Session: sid("A.t1"), HasSession: true},
			want: []string{"t2", "t3"}, reason: ReasonDomain, from: "t1"},
		{name: "redirect excluded then domain", down: []string{"t1"}, exclude: []string{"r"}, req: Request{Session: sid("A.t1"), HasSession: true},
			want: []string{"t2", "t3"}, reason: ReasonDomain, from: "t1"},
		{name: "domain skips disabled", mod: state("t3", Disabled), down: []string{"t1", "r"}, req: Request{Session: sid("A.t1"), HasSession: true},
			want: []string{"t2"}, reason: ReasonDomain, from: "t1"},
		{name: "domain down then any", down: []string{"t1", "r", "t2", "t3"}, req: Request{Session: sid("A.t1"), HasSession: true},
			want: []string{"t4", "t5"}, reason: ReasonFailover, from: "t1"},
		{name: "domain member without redirect", down: []string{"t2"}, req: Request{Session: sid("A.t2"), HasSession: true},
			want: []string{"t1", "t3"}, reason: ReasonDomain, from: "t2"},
		{name: "any skips disabled", down: []string{"t4", "t1", "t2", "t3"}, req: Request{Session: sid("A.t4"), HasSession: true},
			want: []string{"t5"}, reason: ReasonFailover, from: "t4"},
		{name: "nothing left", down: []string{"t1", "t2", "t3", "t4", "t5"}, req: Request{Session: sid("A.t4"), HasSession: true}, wantErr: ErrNoMember},
		{name: "pin beats route", req: Request{Session: sid("A.t2"), HasSession: true, Pin: "t3"}, want: []string{"t3"}, reason: ReasonSticky},
		{name: "pin without session", req: Request{Pin: "t3"}, want: []string{"t3"}, reason: ReasonSticky},
		{name: "pin to disabled", req: Request{Session: sid("A.t2"), HasSession: true, Pin: "r"}, want: []string{"r"}, reason: ReasonSticky},
		{name: "pin stopped", mod: state("t3", Stopped), req: Request{Session: sid("A.t2"), HasSession: true, Pin: "t3"}, want: []string{"t2"}, reason: ReasonSticky},
		{name: "pin down", down: []string{"t3"}, req: Request{Session: sid("A.t2"), HasSession: true, Pin: "t3"}, want: []string{"t2"}, reason: ReasonSticky},
		{name: "pin unknown", req: Request{Session: sid("A.t2"), HasSession: true, Pin: "gone"}, want: []string{"t2"}, reason: ReasonSticky},
		{name: "pin excluded", exclude: []string{"t3"}, req: Request{Session: sid("A.t2"), HasSession: true, Pin: "t3"}, want: []string{"t2"}, reason: ReasonSticky},
		{name: "pin and route down", down: []string{"t3", "t4"}, req: Request{Session: sid("A.t4"), HasSession: true, Pin: "t3"},
			want: []string{"t1", "t2", "t5"}, reason: ReasonFailover, from: "t4"},
		{name: "excluded session member fails over", exclude: []string{"t2"}, req: Request{Session: sid("A.t2"), HasSession: true},
			want: []string{"t1", "t3"}, reason: ReasonDomain, from: "t2"},
		{name: "excluded with sticky_force", exclude: []string{"t2"}, force: true, req: Request{Session: sid("A.t2"), HasSession: true}, wantErr: ErrStickyForced},
		{name: "all excluded", exclude: []string{"t1", "t2", "t3", "t4", "t5"}, req: Request{Session: sid("A.t2"), HasSession: true}, wantErr: ErrNoMember},
		{name: "unknown route is balanced", req: Request{Session: sid("A.t9"), HasSession: true}, want: []string{"t1", "t2", "t3", "t4", "t5"}, reason: ReasonBalanced},
		{name: "route after first dot", req: Request{Session: sid("A.B.t2"), HasSession: true}, want: []string{"t1", "t2", "t3", "t4", "t5"}, reason: ReasonBalanced},
		{name: "no session is balanced", req: Request{}, want: []string{"t1", "t2", "t3", "t4", "t5"}, reason: ReasonBalanced},
		{name: "balanced skips excluded", exclude: []string{"t1", "t2", "t3", "t4"}, req: Request{}, want: []string{"t5"}, reason: ReasonBalanced},
		{name: "domain route", req: Request{Session: sid("A.d1.t9"), HasSession: true}, want: []string{"t1", "t2", "t3"}, reason: ReasonDomain, from: "d1.t9"},
		{name: "domain route whole", req: Request{Session: sid("A.d1"), HasSession: true}, want: []string{"t1", "t2", "t3"}, reason: ReasonDomain, from: "d1"},
		{name: "domain route down then any", down: []string{"t1", "t2", "t3"}, req: Request{Session: sid("A.d1.t9"), HasSession: true},
			want: []string{"t4", "t5"}, reason: ReasonFailover, from: "d1.t9"},
		{name: "domain route sticky_force", down: []string{"t1", "t2", "t3"}, force: true, req: Request{Session: sid("A.d1.t9"), HasSession: true}, wantErr: ErrStickyForced},
		{name: "domain route sticky_force usable", force: true, req: Request{Session: sid("A.d1.t9"), HasSession: true}, want: []string{"t1", "t2", "t3"}, reason: ReasonDomain, from: "d1.t9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := failoverMembers()
			if tc.mod != nil {
				tc.mod(ms)
			}
			tab := mustTable(t, Options{StickyForce: tc.force}, ms...)
			setHealthy(t, tab, false, tc.down...)
			req := tc.req
			for _, n := range tc.exclude {
				i, _ := tab.Index(n)
				req.Exclude |= 1 << i
			}
			d, err := tab.Pick(&req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Pick(%+v) = %+v, %v; want error %v", req, d, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Pick(%+v) = %v; want one of %v", req, err, tc.want)
			}
			if !slices.Contains(tc.want, d.Member.Name) || d.Reason != tc.reason || d.From != tc.from {
				t.Errorf("Pick(%+v) = %s, %v, from %q; want one of %v, %v, from %q", req, d.Member.Name, d.Reason, d.From, tc.want, tc.reason, tc.from)
			}
			if d.Member != &tab.Members()[d.Index] {
				t.Errorf("Pick(%+v).Member = %p; want &Members()[%d]", req, d.Member, d.Index)
			}
		})
	}
}

// state returns a fleet modifier that sets name's state.
func state(name string, s State) func([]Member) {
	return func(ms []Member) {
		for i := range ms {
			if ms[i].Name == name {
				ms[i].State = s
			}
		}
	}
}

func TestPickEmptyTable(t *testing.T) {
	for p := RoundRobin; p <= lastPolicy; p++ {
		tab := mustTable(t, Options{Policy: p})
		for _, req := range []Request{{}, {Session: sid("A.t1"), HasSession: true, Pin: "t1"}} {
			if d, err := tab.Pick(&req); !errors.Is(err, ErrNoMember) {
				t.Errorf("%v: Pick(%+v) = %+v, %v; want %v", p, req, d, err, ErrNoMember)
			}
		}
	}
}

// TestFailoverStableAndSpread checks that the sessions of a dead member are
// spread over the survivors, each session always to the same one, whatever
// the order of the members, as Rendezvous computes it.
func TestFailoverStableAndSpread(t *testing.T) {
	names := []string{"dead", "a", "b", "c", "d"}
	var ms []Member
	for _, n := range names {
		ms = append(ms, Member{Name: n, Weight: 1})
	}
	tab := mustTable(t, Options{}, ms...)
	setHealthy(t, tab, false, "dead")
	rev := slices.Clone(ms)
	slices.Reverse(rev)
	for i := range rev {
		rev[i].Load = nil
	}
	tabRev := mustTable(t, Options{}, rev...)
	setHealthy(t, tabRev, false, "dead")
	cands := []Candidate{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}, {Name: "c", Weight: 1}, {Name: "d", Weight: 1}}

	const sessions = 4000
	count := map[string]int{}
	for k := range sessions {
		s := SessionID{ID: fmt.Sprintf("%032X", k*7919), Route: "dead"}
		req := Request{Session: s, HasSession: true}
		first := pickName(tab, &req)
		count[first]++
		for range 3 {
			if got := pickName(tab, &req); got != first {
				t.Fatalf("Pick(%v) = %s, then %s; want the same member every time", s, first, got)
			}
		}
		if got := pickName(tabRev, &req); got != first {
			t.Fatalf("Pick(%v) on reversed members = %s; want %s", s, got, first)
		}
		if got := cands[Rendezvous(s.String(), cands...)].Name; got != first {
			t.Fatalf("Rendezvous(%q) = %s; want %s, as Pick", s.String(), got, first)
		}
	}
	for _, n := range names[1:] {
		if c := count[n]; c < sessions/4*8/10 || c > sessions/4*12/10 {
			t.Errorf("failover of %d sessions sent %d to %s; want about %d (counts %v)", sessions, c, n, sessions/4, count)
		}
	}
}

// TestFailoverMovesOnlyLostSessions checks rendezvous' minimal disruption:
// when a second member dies, only the sessions that had failed over to it
// move.
func TestFailoverMovesOnlyLostSessions(t *testing.T) {
	tab := mustTable(t, Options{}, Member{Name: "dead", Weight: 1}, Member{Name: "a", Weight: 1}, Member{Name: "b", Weight: 2}, Member{Name: "c", Weight: 1})
	setHealthy(t, tab, false, "dead")
	before := map[string]string{}
	for k := range 1000 {
		req := Request{Session: SessionID{ID: fmt.Sprint(k), Route: "dead"}, HasSession: true}
		before[req.Session.ID] = pickName(tab, &req)
	}
	setHealthy(t, tab, false, "b")
	for id, was := range before {
		req := Request{Session: SessionID{ID: id, Route: "dead"}, HasSession: true}
		if got := pickName(tab, &req); was != "b" && got != was {
			t.Errorf("after b died, Pick(%s.dead) = %s; want %s as before", id, got, was)
		}
	}
}

func TestNewTableErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []Member
		opts    Options
		want    error
	}{
		{name: "empty name", members: []Member{{Name: "", Weight: 1}}, want: ErrEmptyName},
		{name: "duplicate", members: []Member{{Name: "a", Weight: 1}, {Name: "a", Weight: 1}}, want: ErrDuplicateName},
		{name: "zero weight", members: []Member{{Name: "a"}}, want: ErrBadWeight},
		{name: "negative weight", members: []Member{{Name: "a", Weight: -1}}, want: ErrBadWeight},
		{name: "huge weight", members: []Member{{Name: "a", Weight: MaxWeight + 1}}, want: ErrBadWeight},
		{name: "unknown redirect", members: []Member{{Name: "a", Weight: 1, Redirect: "b"}}, want: ErrUnknownRedirect},
		{name: "bad state", members: []Member{{Name: "a", Weight: 1, State: 7}}, want: ErrBadState},
		{name: "bad policy", opts: Options{Policy: 42}, want: ErrBadPolicy},
		{name: "keyed fallback", opts: Options{Policy: HeaderHash, Fallback: QueryHash}, want: ErrBadPolicy},
		{name: "unknown fallback", opts: Options{Policy: HeaderHash, Fallback: 42}, want: ErrBadPolicy},
		{name: "choose one", opts: Options{Policy: RandomChoose, Choose: 1}, want: ErrBadPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewTable(tc.members, tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("NewTable(%+v, %+v) = %v; want %v", tc.members, tc.opts, err, tc.want)
			}
		})
	}
	_, err := NewTable([]Member{{Name: "a", Weight: 1}, {Name: "a", Weight: 1}}, Options{})
	if me, ok := errors.AsType[*MemberError](err); !ok || me.Index != 1 || me.Name != "a" {
		t.Errorf("NewTable(duplicate) = %v; want *MemberError for index 1 named a", err)
	}
	if got, want := err.Error(), `member 1 "a": duplicate member name`; got != want {
		t.Errorf("NewTable(duplicate).Error() = %q; want %q", got, want)
	}
}

func TestNewTableLoads(t *testing.T) {
	shared := &Load{}
	shared.Requests.Store(50)
	in := []Member{{Name: "a", Weight: 1, Load: shared}, {Name: "b", Weight: 2}, {Name: "c", Weight: 1, Redirect: "a"}}
	tab := mustTable(t, Options{}, in...)
	ms := tab.Members()
	if ms[0].Load != shared {
		t.Errorf("Members()[0].Load = %p; want the given %p", ms[0].Load, shared)
	}
	if shared.Healthy.Load() {
		t.Errorf("NewTable changed a given Load's health")
	}
	for _, i := range []int{1, 2} {
		if ms[i].Load == nil || !ms[i].Load.Healthy.Load() {
			t.Errorf("Members()[%d].Load = %v; want a new healthy Load", i, ms[i].Load)
		}
	}
	if got := ms[1].Load.Requests.Load(); got != 100 {
		t.Errorf("new Load of b (weight 2) Requests = %d; want 100 (caught up with a's 50 at weight 1)", got)
	}
	if in[1].Load != nil {
		t.Errorf("NewTable changed its argument")
	}
	if i, ok := tab.Index("c"); !ok || i != 2 {
		t.Errorf("Index(c) = %d, %v; want 2, true", i, ok)
	}
	if i, ok := tab.Index("zz"); ok {
		t.Errorf("Index(zz) = %d, true; want false", i)
	}
	if tab.Len() != 3 {
		t.Errorf("Len() = %d; want 3", tab.Len())
	}
}

func TestCatchUp(t *testing.T) {
	tab := mustTable(t, Options{Policy: LeastRequests}, Member{Name: "a", Weight: 1}, Member{Name: "b", Weight: 3}, Member{Name: "c", Weight: 1})
	ms := tab.Members()
	ms[0].Load.Requests.Store(1000)
	ms[1].Load.Requests.Store(900) // 300 per unit of weight
	ms[2].Load.Requests.Store(10)
	tab.CatchUp(2)
	if got := ms[2].Load.Requests.Load(); got != 1000 {
		t.Errorf("CatchUp(c) Requests = %d; want 1000", got)
	}
	tab.CatchUp(1)
	if got := ms[1].Load.Requests.Load(); got != 3000 {
		t.Errorf("CatchUp(b) Requests = %d; want 3000", got)
	}
	ms[0].Load.Requests.Store(5000)
	ms[1].Load.Requests.Store(0)
	ms[2].Load.Requests.Store(0)
	tab.CatchUp(0)
	if got := ms[0].Load.Requests.Load(); got != 5000 {
		t.Errorf("CatchUp(a) Requests = %d; want 5000 (never lowered)", got)
	}
	tab.CatchUp(-1) // out of range: no-op
	tab.CatchUp(3)
}

// TestStickyZeroAllocs is the allocation budget of the hot path.
func TestStickyZeroAllocs(t *testing.T) {
	tab := mustTable(t, Options{}, failoverMembers()...)
	headers := []string{"a=1; JSESSIONID=ZZ.t9; JSESSIONID=C2B3D4CBD3A7ECE4310AD571119A04FF.t2"}
	setHealthy(t, tab, false, "t4")
	for _, tc := range []struct {
		name string
		path string
	}{
		{name: "sticky", path: "/app/x"},
		{name: "failover", path: "/app/x;jsessionid=C2B3D4CBD3A7ECE4310AD571119A04FF.t4"},
		{name: "balanced", path: "/app/x;jsessionid=nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			headers := headers
			if tc.name == "balanced" {
				headers = nil
			}
			allocs := testing.AllocsPerRun(100, func() {
				var req Request
				req.Session, req.HasSession = tab.FindSession(tc.path, headers, SessionNames{})
				if _, err := tab.Pick(&req); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("FindSession+Pick(%q) allocates %v times; want 0", tc.path, allocs)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{Active.String(), "active"},
		{Disabled.String(), "disabled"},
		{Stopped.String(), "stopped"},
		{State(7).String(), "state(7)"},
		{RoundRobin.String(), "round_robin"},
		{LeastRequests.String(), "least_requests"},
		{LeastBusy.String(), "least_busy"},
		{P2C.String(), "p2c"},
		{Random.String(), "random"},
		{IPHash.String(), "ip_hash"},
		{First.String(), "first"},
		{URIHash.String(), "uri_hash"},
		{HeaderHash.String(), "header"},
		{QueryHash.String(), "query"},
		{RandomChoose.String(), "random_choose"},
		{Policy(42).String(), "policy(42)"},
		{ReasonSticky.String(), "sticky"},
		{ReasonFailover.String(), "failover"},
		{Reason(9).String(), "reason(9)"},
	} {
		if tc.got != tc.want {
			t.Errorf("String() = %q; want %q", tc.got, tc.want)
		}
	}
	for s := Active; s <= Stopped; s++ {
		if got, ok := ParseState(s.String()); !ok || got != s {
			t.Errorf("ParseState(%q) = %v, %v; want %v, true", s.String(), got, ok, s)
		}
	}
	for p := RoundRobin; p <= lastPolicy; p++ {
		if got, ok := ParsePolicy(p.String()); !ok || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v, true", p.String(), got, ok, p)
		}
	}
	if _, ok := ParsePolicy("fastest"); ok {
		t.Errorf("ParsePolicy(fastest) = _, true; want false")
	}
	if _, ok := ParseState("on"); ok {
		t.Errorf("ParseState(on) = _, true; want false")
	}
}
