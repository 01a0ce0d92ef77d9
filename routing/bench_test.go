package routing

import (
	"fmt"
	"testing"
)

// benchMembers is a typical fleet: eight members in two domains, weights 1
// and 2.
func benchMembers() []Member {
	ms := make([]Member, 8)
	for i := range ms {
		ms[i] = Member{Name: fmt.Sprintf("tomcat%d", i+1), Domain: fmt.Sprintf("az-%c", 'a'+i%2), Weight: 1 + i%2}
	}
	return ms
}

// benchHeaders is a realistic Cookie header with the session cookie last.
var benchHeaders = []string{"_ga=GA1.2.1234567890.1700000000; lang=en-US; cart=3f9a; JSESSIONID=C2B3D4CBD3A7ECE4310AD571119A04FF.tomcat5"}

// BenchmarkStickyPick is the hot path of a request with a live session:
// find the session, then pick its member.
func BenchmarkStickyPick(b *testing.B) {
	tab := mustTable(b, Options{Policy: LeastBusy}, benchMembers()...)
	b.ReportAllocs()
	for b.Loop() {
		var req Request
		req.Session, req.HasSession = tab.FindSession("/shop/cart", benchHeaders, SessionNames{})
		if d, err := tab.Pick(&req); err != nil || d.Reason != ReasonSticky {
			b.Fatalf("Pick = %+v, %v; want sticky", d, err)
		}
	}
}

func BenchmarkFindSession(b *testing.B) {
	tab := mustTable(b, Options{}, benchMembers()...)
	for _, bc := range []struct {
		name    string
		path    string
		headers []string
	}{
		{name: "cookie", path: "/shop/cart", headers: benchHeaders},
		{name: "path", path: "/shop/cart;jsessionid=C2B3D4CBD3A7ECE4310AD571119A04FF.tomcat5", headers: nil},
		{name: "none", path: "/shop/cart", headers: []string{"_ga=GA1.2.1234567890.1700000000; lang=en-US"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tab.FindSession(bc.path, bc.headers, SessionNames{})
			}
		})
	}
}

func BenchmarkBalanced(b *testing.B) {
	for p := RoundRobin; p <= IPHash; p++ {
		b.Run(p.String(), func(b *testing.B) {
			tab := mustTable(b, Options{Policy: p}, benchMembers()...)
			req := Request{ClientAddr: "203.0.113.77", Rand: 0x9e3779b97f4a7c15}
			b.ReportAllocs()
			for b.Loop() {
				req.Rand = req.Rand*6364136223846793005 + 1442695040888963407
				if _, err := tab.Pick(&req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFailover is a session whose member is down: rendezvous over its
// domain (equal weights) and, with the domain down too, over every member
// (mixed weights, so with fixed-point logarithms).
func BenchmarkFailover(b *testing.B) {
	for _, bc := range []struct {
		name string
		down []string
	}{
		{name: "domain", down: []string{"tomcat5"}},
		{name: "any", down: []string{"tomcat1", "tomcat3", "tomcat5", "tomcat7"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tab := mustTable(b, Options{}, benchMembers()...)
			setHealthy(b, tab, false, bc.down...)
			req := Request{Session: SessionID{ID: "C2B3D4CBD3A7ECE4310AD571119A04FF", Route: "tomcat5"}, HasSession: true}
			b.ReportAllocs()
			for b.Loop() {
				if d, err := tab.Pick(&req); err != nil || d.Reason < ReasonRedirect {
					b.Fatalf("Pick = %+v, %v; want a failover", d, err)
				}
			}
		})
	}
}

func BenchmarkNewTable(b *testing.B) {
	ms := benchMembers()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewTable(ms, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
