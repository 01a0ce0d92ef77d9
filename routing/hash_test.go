package routing

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestNeglog2(t *testing.T) {
	for _, h := range []uint64{0, 1, 2, 3, 1000, 1 << 32, 1<<63 - 1, 1 << 63, 1<<63 + 12345, math.MaxUint64 - 1, math.MaxUint64} {
		got := float64(neglog2(h)) / (1 << logFrac)
		want := 64 - math.Log2(float64(max(h, 1)))
		if math.Abs(got-want) > 1e-8 {
			t.Errorf("neglog2(%d) = %v; want %v", h, got, want)
		}
		if neglog2(h) < 1 {
			t.Errorf("neglog2(%d) = 0; want >= 1", h)
		}
	}
	// Monotone: a higher hash never scores worse.
	prev := neglog2(1)
	for h := uint64(1); h < math.MaxUint64/3; h = h*3 + 1 {
		for _, x := range []uint64{h, h + 1} {
			if l := neglog2(x); l > prev {
				t.Fatalf("neglog2(%d) = %d > %d for a smaller hash", x, l, prev)
			}
			prev = neglog2(x)
		}
	}
}

func TestRendezvous(t *testing.T) {
	if got := Rendezvous("k"); got != -1 {
		t.Errorf("Rendezvous(k) = %d; want -1", got)
	}
	if got := Rendezvous("k", Candidate{Name: "a"}); got != 0 {
		t.Errorf("Rendezvous(k, a) = %d; want 0", got)
	}
	// Fixed across releases and processes: these values are part of the
	// contract between Tether instances of different versions.
	cands := []Candidate{{Name: "tomcat1", Weight: 1}, {Name: "tomcat2", Weight: 1}, {Name: "tomcat3", Weight: 2}}
	var got []string
	for _, k := range []string{"A.tomcat9", "B.tomcat9", "C.tomcat9", "D.tomcat9", "E.tomcat9", "F.tomcat9"} {
		got = append(got, cands[Rendezvous(k, cands...)].Name)
	}
	if want := goldenRendezvous; !slices.Equal(got, want) {
		t.Errorf("Rendezvous over tomcat1..3 = %v; want %v (the hash changed: instances of different versions would disagree)", got, want)
	}
}

var goldenRendezvous = []string{"tomcat2", "tomcat3", "tomcat3", "tomcat2", "tomcat2", "tomcat1"}

func TestRendezvousWeights(t *testing.T) {
	cands := []Candidate{{Name: "a", Weight: 1}, {Name: "b", Weight: 2}, {Name: "c", Weight: 5}, {Name: "d", Weight: 0}}
	count := make([]int, len(cands))
	const n = 16000
	for k := range n {
		count[Rendezvous(fmt.Sprint("session-", k), cands...)]++
	}
	for i, w := range []float64{1, 2, 5, 1} { // d counts as 1
		if want := n * w / 9; !near(count[i], want, 0.1) {
			t.Errorf("Rendezvous share of %s (weight %v) = %d of %d; want about %.0f", cands[i].Name, w, count[i], n, want)
		}
	}
	// The choice does not depend on the order of candidates.
	rev := slices.Clone(cands)
	slices.Reverse(rev)
	for k := range 2000 {
		key := fmt.Sprint("session-", k)
		if a, b := cands[Rendezvous(key, cands...)].Name, rev[Rendezvous(key, rev...)].Name; a != b {
			t.Fatalf("Rendezvous(%q) = %s, reversed %s; want the same", key, a, b)
		}
	}
}

func TestSessionHash(t *testing.T) {
	for _, raw := range []string{"A.b", "ABC.DEF.tomcat1", "C2B3D4CBD3A7ECE4310AD571119A04FF.tomcat1"} {
		s := sid(raw)
		if got, want := sessionHash(s), keyHash(raw); got != want {
			t.Errorf("sessionHash(%q) = %x; want keyHash = %x", raw, got, want)
		}
	}
}

func BenchmarkNeglog2(b *testing.B) {
	h := uint64(0x9e3779b97f4a7c15)
	var sink uint64
	for b.Loop() {
		h = h*6364136223846793005 + 1442695040888963407
		sink += neglog2(h)
	}
	_ = sink
}
