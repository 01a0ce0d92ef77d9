package routing

import "testing"

// TestMaxConns: balancing passes a member at its MaxConns by, says ErrBusy
// when every usable member is full (ErrNoMember when none is usable), and
// a session still gets its own member: its request waits for it.
func TestMaxConns(t *testing.T) {
	tab := mustTable(t, Options{Policy: RoundRobin},
		Member{Name: "a", Weight: 1, MaxConns: 2}, Member{Name: "b", Weight: 1, MaxConns: 1}, Member{Name: "c", Weight: 1})
	ms := tab.Members()
	ms[0].Load.InFlight.Store(2)
	ms[2].Load.Healthy.Store(false)
	for range 6 {
		var req Request
		if d, err := tab.Pick(&req); err != nil || d.Member.Name != "b" {
			t.Fatalf("Pick(new) = %+v, %v; want b (a full, c down)", d, err)
		}
	}
	ms[1].Load.InFlight.Store(1)
	var req Request
	if d, err := tab.Pick(&req); err != ErrBusy {
		t.Fatalf("Pick(new) with a and b full = %+v, %v; want ErrBusy", d, err)
	}
	if !tab.Usable(&req, 0) || tab.Candidate(&req, 0) || tab.Usable(&req, 2) {
		t.Errorf("Usable(a), Candidate(a), Usable(c) = %v, %v, %v; want true, false, false", tab.Usable(&req, 0), tab.Candidate(&req, 0), tab.Usable(&req, 2))
	}
	sticky := Request{Session: SessionID{ID: "X", Route: "a"}, HasSession: true}
	if d, err := tab.Pick(&sticky); err != nil || d.Member.Name != "a" || d.Reason != ReasonSticky {
		t.Errorf("Pick(session of a) = %+v, %v; want a, sticky", d, err)
	}
	ms[0].Load.Healthy.Store(false)
	ms[1].Load.Healthy.Store(false)
	if d, err := tab.Pick(&req); err != ErrNoMember {
		t.Errorf("Pick(new) with all down = %+v, %v; want ErrNoMember", d, err)
	}
}

// TestSlowStartShare: a member warming up at Ramp r gets about r/1000 of
// the new requests its weight would give it, under every policy that
// spreads load; its sessions reach it whatever the ramp.
func TestSlowStartShare(t *testing.T) {
	for _, p := range []Policy{RoundRobin, LeastRequests, LeastBusy, Random, P2C, RandomChoose} {
		t.Run(p.String(), func(t *testing.T) {
			tab := mustTable(t, Options{Policy: p}, Member{Name: "a", Weight: 1}, Member{Name: "b", Weight: 1}, Member{Name: "c", Weight: 1})
			ms := tab.Members()
			share := func(ramp uint32) float64 {
				ms[2].Load.Ramp.Store(ramp)
				for i := range ms {
					ms[i].Load.Requests.Store(0)
					ms[i].Load.InFlight.Store(0)
				}
				// 30 requests in flight at any time, each ending after 30
				// more have started (least_busy sees the in-flight counts).
				var window [30]int
				for i := range window {
					window[i] = -1
				}
				n := 0
				const total = 30000
				r := uint64(12345)
				for k := range total {
					r = mix(r + 1)
					req := Request{Rand: r}
					d, err := tab.Pick(&req)
					if err != nil {
						t.Fatal(err)
					}
					d.Member.Load.Requests.Add(1)
					d.Member.Load.InFlight.Add(1)
					if old := window[k%30]; old >= 0 {
						ms[old].Load.InFlight.Add(-1)
					}
					window[k%30] = d.Index
					if d.Index == 2 {
						n++
					}
				}
				return float64(n) / total
			}
			full, tenth, half := share(0), share(100), share(500)
			if full < 0.30 || tenth > full*0.2 || tenth < full*0.05 || half < full*0.3 || half > full*0.7 {
				t.Errorf("share of c at ramp 0, 100‰, 500‰ = %.3f, %.3f, %.3f; want about 1/3, 1/30, 1/6", full, tenth, half)
			}
			ms[2].Load.Ramp.Store(1)
			sticky := Request{Session: SessionID{ID: "X", Route: "c"}, HasSession: true}
			if d, err := tab.Pick(&sticky); err != nil || d.Index != 2 {
				t.Errorf("Pick(session of c) while it warms = %+v, %v; want c", d, err)
			}
		})
	}
}

// TestSlowStartAllWarming: when every member is warming and turns the
// request down, it still goes to one.
func TestSlowStartAllWarming(t *testing.T) {
	tab := mustTable(t, Options{Policy: RoundRobin}, Member{Name: "a", Weight: 1}, Member{Name: "b", Weight: 1})
	for _, m := range tab.Members() {
		m.Load.Ramp.Store(1)
	}
	for k := range 100 {
		req := Request{Rand: uint64(k)}
		if _, err := tab.Pick(&req); err != nil {
			t.Fatalf("Pick = %v; want a member", err)
		}
	}
}

// BenchmarkPickLimited is the balanced pick with and without max_conns on
// every member (and none full): the limit costs a load and a compare per
// candidate, and no allocation.
func BenchmarkPickLimited(b *testing.B) {
	for _, limit := range []int64{0, 100} {
		name := "unlimited"
		if limit > 0 {
			name = "max_conns"
		}
		b.Run(name, func(b *testing.B) {
			ms := benchMembers()
			for i := range ms {
				ms[i].MaxConns = limit
			}
			tab := mustTable(b, Options{Policy: RoundRobin}, ms...)
			b.ReportAllocs()
			for b.Loop() {
				req := Request{Rand: 0x9e3779b97f4a7c15}
				if _, err := tab.Pick(&req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
