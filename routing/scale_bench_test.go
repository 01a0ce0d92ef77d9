package routing

import (
	"fmt"
	"testing"
)

// Scaling benchmarks (issue 18, point 3): the routing decision with 2, 20
// and 200 members in one balancer. Each size is a sub-benchmark, so one run
// prints the curve; compare sizes within a run (bench/README.md):
//
//	go test -run XXX -bench Scale -benchtime 200ms -count 3 ./routing/

var scaleMemberCounts = []int{2, 20, 200}

// scaleMembers returns n members of weight 1, no domain.
func scaleMembers(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Name: fmt.Sprintf("tomcat%d", i+1), Weight: 1}
	}
	return ms
}

// BenchmarkScaleMembers is Pick for a sticky hit (the session's member is
// up), a new session (round_robin, the default, and least_busy) and a
// failover (the session's member is down: rendezvous over all the others).
func BenchmarkScaleMembers(b *testing.B) {
	for _, n := range scaleMemberCounts {
		route := fmt.Sprintf("tomcat%d", n) // the last member: no early exit
		b.Run(fmt.Sprintf("sticky/members=%d", n), func(b *testing.B) {
			tab := mustTable(b, Options{}, scaleMembers(n)...)
			req := Request{Session: SessionID{ID: "C2B3D4CBD3A7ECE4310AD571119A04FF", Route: route}, HasSession: true}
			b.ReportAllocs()
			for b.Loop() {
				if d, err := tab.Pick(&req); err != nil || d.Reason != ReasonSticky {
					b.Fatalf("Pick = %+v, %v; want sticky", d, err)
				}
			}
		})
		for _, p := range []Policy{RoundRobin, LeastBusy} {
			b.Run(fmt.Sprintf("new-%s/members=%d", p, n), func(b *testing.B) {
				tab := mustTable(b, Options{Policy: p}, scaleMembers(n)...)
				var req Request
				b.ReportAllocs()
				for b.Loop() {
					if d, err := tab.Pick(&req); err != nil || d.Reason != ReasonBalanced {
						b.Fatalf("Pick = %+v, %v; want balanced", d, err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("failover/members=%d", n), func(b *testing.B) {
			tab := mustTable(b, Options{}, scaleMembers(n)...)
			setHealthy(b, tab, false, route)
			req := Request{Session: SessionID{ID: "C2B3D4CBD3A7ECE4310AD571119A04FF", Route: route}, HasSession: true}
			b.ReportAllocs()
			for b.Loop() {
				if d, err := tab.Pick(&req); err != nil || d.Reason != ReasonFailover {
					b.Fatalf("Pick = %+v, %v; want failover", d, err)
				}
			}
		})
	}
}
