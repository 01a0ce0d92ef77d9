package routing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// weighted returns members a, b, c, ... with the given weights.
func weighted(weights ...int) []Member {
	ms := make([]Member, len(weights))
	for i, w := range weights {
		ms[i] = Member{Name: string(rune('a' + i)), Weight: w}
	}
	return ms
}

// counts picks n times and counts the members chosen; each request gets
// the next value of a seeded generator as Rand and a distinct ClientAddr.
func counts(t *testing.T, tab *Table, n int, exclude uint64) map[string]int {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	got := map[string]int{}
	for k := range n {
		req := Request{Rand: r.Uint64(), ClientAddr: fmt.Sprintf("10.0.%d.%d", k/256, k%256), Exclude: exclude}
		d, err := tab.Pick(&req)
		if err != nil {
			t.Fatalf("Pick(%+v) = %v", req, err)
		}
		if d.Reason != ReasonBalanced {
			t.Fatalf("Pick(%+v).Reason = %v; want balanced", req, d.Reason)
		}
		got[d.Member.Name]++
	}
	return got
}

// near reports whether got is within tol (a fraction) of want.
func near(got int, want, tol float64) bool { return math.Abs(float64(got)-want) <= want*tol }

func TestRoundRobinWeights(t *testing.T) {
	tab := mustTable(t, Options{Policy: RoundRobin}, weighted(3, 1, 2)...)
	if got, want := counts(t, tab, 600, 0), map[string]int{"a": 300, "b": 100, "c": 200}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("600 round-robin picks over weights 3,1,2 = %v; want %v", got, want)
	}
}

func TestRoundRobinSmooth(t *testing.T) {
	tab := mustTable(t, Options{Policy: RoundRobin}, weighted(5, 1, 1)...)
	var seq string
	for range 14 {
		seq += pickName(tab, &Request{})
	}
	if want := "aabacaa" + "aabacaa"; seq != want {
		t.Errorf("round-robin order over weights 5,1,1 = %s; want %s", seq, want)
	}
}

func TestSmoothSchedule(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []uint64
		wantLen int
	}{
		{name: "gcd reduced", weights: []uint64{100, 100, 200}, wantLen: 4},
		{name: "scaled down", weights: []uint64{MaxWeight, MaxWeight / 2, 1}, wantLen: maxSchedule},
		{name: "empty", weights: nil, wantLen: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := smoothSchedule(tc.weights)
			if len(s) < tc.wantLen-2 || len(s) > tc.wantLen+2 {
				t.Errorf("len(smoothSchedule(%v)) = %d; want about %d", tc.weights, len(s), tc.wantLen)
			}
			for i := range tc.weights {
				if !slices.Contains(s, int32(i)) {
					t.Errorf("smoothSchedule(%v) never gives member %d a turn", tc.weights, i)
				}
			}
		})
	}
}

func TestBalancedSkipsUnusable(t *testing.T) {
	for p := RoundRobin; p <= IPHash; p++ {
		t.Run(p.String(), func(t *testing.T) {
			ms := weighted(1, 1, 1, 1, 1)
			ms[1].State = Disabled
			ms[2].State = Stopped
			tab := mustTable(t, Options{Policy: p}, ms...)
			setHealthy(t, tab, false, "d")
			got := counts(t, tab, 300, 1<<4) // e excluded
			if len(got) != 1 || got["a"] != 300 {
				t.Errorf("%v picks with b disabled, c stopped, d down, e excluded = %v; want all to a", p, got)
			}
			setHealthy(t, tab, false, "a")
			req := Request{Exclude: 1 << 4}
			if d, err := tab.Pick(&req); err != ErrNoMember {
				t.Errorf("%v: Pick with nothing usable = %+v, %v; want %v", p, d, err, ErrNoMember)
			}
		})
	}
}

// TestBalancedWeights checks that every policy shares idle members out by
// weight (least_busy and least_requests by rotation on ties, so only their
// spread is checked).
func TestBalancedWeights(t *testing.T) {
	for _, tc := range []struct {
		policy Policy
		tol    float64
	}{
		{policy: RoundRobin, tol: 0},
		{policy: Random, tol: 0.1},
		{policy: P2C, tol: 0.1},
		{policy: IPHash, tol: 0.1},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			tab := mustTable(t, Options{Policy: tc.policy}, weighted(1, 2, 3, 4)...)
			const n = 10000
			got := counts(t, tab, n, 0)
			for i, w := range []float64{1, 2, 3, 4} {
				name := string(rune('a' + i))
				if !near(got[name], n*w/10, tc.tol) {
					t.Errorf("%d %v picks over weights 1,2,3,4 = %v; want %s near %v", n, tc.policy, got, name, n*w/10)
				}
			}
		})
	}
}

func TestLeastRequests(t *testing.T) {
	tab := mustTable(t, Options{Policy: LeastRequests}, weighted(1, 2, 1)...)
	ms := tab.Members()
	ms[0].Load.Requests.Store(10)
	ms[1].Load.Requests.Store(18) // 9 per unit of weight
	ms[2].Load.Requests.Store(10)
	if got := pickName(tab, &Request{}); got != "b" {
		t.Errorf("least_requests with 10/1, 18/2, 10/1 = %s; want b", got)
	}
	ms[1].Load.Requests.Store(20)
	got := map[string]int{}
	for range 300 {
		got[pickName(tab, &Request{})]++
	}
	if got["a"] != 100 || got["b"] != 100 || got["c"] != 100 {
		t.Errorf("300 least_requests picks on a tie = %v; want 100 each (rotating)", got)
	}
	// The proxy counts; simulate it and check the weights hold.
	for i := range ms {
		ms[i].Load.Requests.Store(0)
	}
	got = map[string]int{}
	for range 400 {
		d, _ := tab.Pick(&Request{})
		d.Member.Load.Requests.Add(1)
		got[d.Member.Name]++
	}
	if got["a"] != 100 || got["b"] != 200 || got["c"] != 100 {
		t.Errorf("400 counted least_requests picks over weights 1,2,1 = %v; want 100, 200, 100", got)
	}
}

func TestLeastBusy(t *testing.T) {
	tab := mustTable(t, Options{Policy: LeastBusy}, weighted(1, 3, 1)...)
	ms := tab.Members()
	ms[0].Load.InFlight.Store(2)
	ms[1].Load.InFlight.Store(5) // 5/3 < 2
	ms[2].Load.InFlight.Store(2)
	if got := pickName(tab, &Request{}); got != "b" {
		t.Errorf("least_busy with 2/1, 5/3, 2/1 = %s; want b", got)
	}
	ms[0].Load.InFlight.Store(-1) // a racy decrement: counts as 0
	if got := pickName(tab, &Request{}); got != "a" {
		t.Errorf("least_busy with -1/1, 5/3, 2/1 = %s; want a", got)
	}
	for i := range ms {
		ms[i].Load.InFlight.Store(0)
	}
	got := map[string]int{}
	for range 30 {
		got[pickName(tab, &Request{})]++
	}
	if got["a"] != 10 || got["b"] != 10 || got["c"] != 10 {
		t.Errorf("30 least_busy picks when idle = %v; want 10 each (rotating)", got)
	}
}

func TestP2C(t *testing.T) {
	tab := mustTable(t, Options{Policy: P2C}, weighted(1, 1, 1)...)
	ms := tab.Members()
	ms[0].Load.InFlight.Store(100)
	got := counts(t, tab, 3000, 0)
	if got["a"] != 0 || !near(got["b"], 1500, 0.1) || !near(got["c"], 1500, 0.1) {
		t.Errorf("3000 p2c picks with a busy = %v; want none to a, half to b and c", got)
	}
	two := mustTable(t, Options{Policy: P2C}, weighted(1, 1)...)
	two.Members()[1].Load.InFlight.Store(1)
	if got := counts(t, two, 100, 0); got["a"] != 100 {
		t.Errorf("100 p2c picks over two, b busier = %v; want all to a", got)
	}
	if got := counts(t, two, 100, 1); got["b"] != 100 {
		t.Errorf("100 p2c picks over two, a excluded = %v; want all to b", got)
	}
}

func TestIPHash(t *testing.T) {
	tab := mustTable(t, Options{Policy: IPHash}, weighted(1, 1, 1, 1)...)
	before := map[string]string{}
	for k := range 500 {
		addr := fmt.Sprintf("192.0.2.%d", k)
		req := Request{ClientAddr: addr, Rand: uint64(k)}
		before[addr] = pickName(tab, &req)
		req.Rand = ^req.Rand
		if got := pickName(tab, &req); got != before[addr] {
			t.Fatalf("ip_hash Pick(%s) = %s, then %s; want the same", addr, before[addr], got)
		}
	}
	setHealthy(t, tab, false, "c")
	for addr, was := range before {
		if got := pickName(tab, &Request{ClientAddr: addr}); was != "c" && got != was {
			t.Errorf("ip_hash Pick(%s) after c died = %s; want %s as before", addr, got, was)
		}
	}
}

func TestFirst(t *testing.T) {
	tab := mustTable(t, Options{Policy: First}, weighted(1, 5, 1)...)
	if got := counts(t, tab, 20, 0); got["a"] != 20 {
		t.Errorf("20 first picks = %v; want all to a, the first member", got)
	}
	setHealthy(t, tab, false, "a")
	if got := counts(t, tab, 20, 0); got["b"] != 20 {
		t.Errorf("20 first picks with a down = %v; want all to b, the next", got)
	}
	if got := counts(t, tab, 20, 1<<1); got["c"] != 20 {
		t.Errorf("20 first picks with a down and b tried = %v; want all to c", got)
	}
}

// TestKeyHash: uri_hash, header and query send one key to one member,
// whatever the order the members were given in (every proxy of a cluster
// builds its own table), move only a lost member's keys, spread keys by
// weight, and balance keyless requests by the fallback policy.
func TestKeyHash(t *testing.T) {
	for _, p := range []Policy{URIHash, HeaderHash, QueryHash} {
		t.Run(p.String(), func(t *testing.T) {
			tab := mustTable(t, Options{Policy: p}, weighted(1, 1, 1, 1)...)
			rev := weighted(1, 1, 1, 1)
			slices.Reverse(rev)
			other := mustTable(t, Options{Policy: p}, rev...)
			before := map[string]string{}
			for k := range 400 {
				key := fmt.Sprintf("/item/%d?v=%d", k, k*7)
				req := Request{Key: key, Rand: uint64(k), ClientAddr: "10.0.0.1"}
				before[key] = pickName(tab, &req)
				if got := pickName(other, &Request{Key: key, Rand: ^uint64(k)}); got != before[key] {
					t.Fatalf("%s Pick(%q) = %s on one table, %s on another with the members reversed; want the same", p, key, before[key], got)
				}
			}
			spread := map[string]int{}
			for _, m := range before {
				spread[m]++
			}
			for _, name := range []string{"a", "b", "c", "d"} {
				if !near(spread[name], 100, 0.3) {
					t.Errorf("%s spread 400 keys as %v; want about 100 each", p, spread)
					break
				}
			}
			setHealthy(t, tab, false, "b")
			for key, was := range before {
				got := pickName(tab, &Request{Key: key})
				if was != "b" && got != was {
					t.Errorf("%s Pick(%q) after b died = %s; want %s as before", p, key, got, was)
				}
				if got == "b" {
					t.Errorf("%s Pick(%q) after b died = b", p, key)
				}
			}
		})
	}
	heavy := mustTable(t, Options{Policy: HeaderHash}, weighted(3, 1)...)
	got := map[string]int{}
	for k := range 4000 {
		got[pickName(heavy, &Request{Key: strconv.Itoa(k)})]++
	}
	if !near(got["a"], 3000, 0.05) {
		t.Errorf("4000 header keys over weights 3,1 = %v; want about 3000 to a", got)
	}
	fb := mustTable(t, Options{Policy: QueryHash, Fallback: First}, weighted(1, 1, 1)...)
	fb.Members()[0].Load.Healthy.Store(false)
	if got := counts(t, fb, 30, 0); got["b"] != 30 {
		t.Errorf("30 keyless query picks with fallback first, a down = %v; want all to b", got)
	}
	rr := mustTable(t, Options{Policy: HeaderHash}, weighted(1, 1, 1)...)
	if got := counts(t, rr, 30, 0); got["a"] != 10 || got["b"] != 10 || got["c"] != 10 {
		t.Errorf("30 keyless header picks, default fallback round_robin = %v; want 10 each", got)
	}
}

func TestRandomChoose(t *testing.T) {
	tab := mustTable(t, Options{Policy: RandomChoose, Choose: 3}, weighted(1, 1, 1, 1)...)
	ms := tab.Members()
	ms[0].Load.InFlight.Store(5)
	ms[1].Load.InFlight.Store(5)
	ms[2].Load.InFlight.Store(5)
	// Three distinct draws of four include d, the idle one, unless d is
	// the one left out: a quarter of the time.
	got := counts(t, tab, 4000, 0)
	if !near(got["d"], 3000, 0.05) {
		t.Errorf("4000 random_choose 3 picks with only d idle = %v; want about 3000 to d", got)
	}
	all := mustTable(t, Options{Policy: RandomChoose, Choose: 4}, weighted(1, 1, 1, 1)...)
	for i, n := range []int64{3, 1, 2, 4} {
		all.Members()[i].Load.InFlight.Store(n)
	}
	if got := counts(t, all, 200, 0); got["b"] != 200 {
		t.Errorf("200 random_choose 4 picks over four = %v; want all to b, the least busy", got)
	}
	if got := counts(t, all, 200, 1<<1); got["c"] != 200 {
		t.Errorf("200 random_choose 4 picks with b tried = %v; want all to c, the least busy left", got)
	}
}

// TestNewPoliciesZeroAllocs: the policies added for Caddy's names decide
// without allocating, as the others do.
func TestNewPoliciesZeroAllocs(t *testing.T) {
	for _, opts := range []Options{{Policy: First}, {Policy: URIHash}, {Policy: HeaderHash, Fallback: Random}, {Policy: RandomChoose, Choose: 3}} {
		tab := mustTable(t, opts, weighted(1, 2, 3, 4)...)
		for _, key := range []string{"/a?b=c", ""} {
			allocs := testing.AllocsPerRun(100, func() {
				req := Request{Key: key, Rand: 12345}
				if _, err := tab.Pick(&req); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s Pick(key %q) allocates %v times; want 0", opts.Policy, key, allocs)
			}
		}
	}
}

// TestDisabledMemberSpread checks that new requests avoid a disabled member
// and spread evenly over the others, as mod_jk 1.2.48 spreads them
// (measured: 30 new sessions over tomcat1, tomcat2 disabled, tomcat3 gave
// 15 and 15; round robin used to give the member after the disabled one
// its turns, 20 against 10). A member that is down gives up its turns the
// same way.
func TestDisabledMemberSpread(t *testing.T) {
	for _, p := range []Policy{RoundRobin, LeastRequests, LeastBusy} {
		for _, how := range []string{"disabled", "down"} {
			t.Run(p.String()+"/"+how, func(t *testing.T) {
				ms := weighted(1, 1, 1)
				if how == "disabled" {
					ms[1].State = Disabled
				}
				tab := mustTable(t, Options{Policy: p}, ms...)
				if how == "down" {
					setHealthy(t, tab, false, "b")
				}
				got := counts(t, tab, 30, 0)
				if got["a"] != 15 || got["c"] != 15 || got["b"] != 0 {
					t.Errorf("30 %v picks with b %s = %v; want a 15, c 15", p, how, got)
				}
			})
		}
	}
}
