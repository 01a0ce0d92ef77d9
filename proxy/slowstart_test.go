package proxy

import (
	"io"
	"testing"
	"time"

	"github.com/tether-proxy/tether/routing"
)

// TestRampShare: 5% at first, half after half of slow_start, the full
// share (0) after it.
func TestRampShare(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	const d = 10 * time.Second
	for _, tc := range []struct {
		after time.Duration
		want  uint32
	}{
		{0, rampFloor}, {250 * time.Millisecond, rampFloor}, {5 * time.Second, 500}, {9 * time.Second, 900}, {d, 0}, {time.Minute, 0}, {-time.Second, rampFloor},
	} {
		if got := rampShare(t0, t0.Add(tc.after), d); got != tc.want {
			t.Errorf("rampShare(%v into %v) = %d‰; want %d‰", tc.after, d, got, tc.want)
		}
	}
	if got := rampShare(t0, t0, 0); got != 0 {
		t.Errorf("rampShare without slow_start = %d; want 0", got)
	}
}

// TestSlowStartOnEnable: a member an operator enables again warms up (the
// status says so); disabling does not, nor does anything without
// slow_start.
func TestSlowStartOnEnable(t *testing.T) {
	m1 := newBackend(t, "t1", nil)
	m2 := newBackend(t, "t2", nil)
	for _, tc := range []struct {
		extra string
		warm  bool
	}{{"\t\tslow_start 1h", true}, {"", false}} {
		s, _ := startProxy(t, oneBalancer("t1=http://"+m1.hostport()+" t2=http://"+m2.hostport(), tc.extra), io.Discard)
		b := s.Balancer("app")
		m := b.set.Load().members[1]
		if err := b.SetState("t2", routing.Disabled); err != nil {
			t.Fatal(err)
		}
		if m.load.Ramp.Load() != 0 {
			t.Errorf("%q: ramp after disabling = %d; want 0", tc.extra, m.load.Ramp.Load())
		}
		if err := b.SetState("t2", routing.Active); err != nil {
			t.Fatal(err)
		}
		w := s.Status().Balancers[0].Members[1].Warming
		if got := w > 0 && w < 100; got != tc.warm {
			t.Errorf("%q: warming %d%% after enabling; want warming %v", tc.extra, w, tc.warm)
		}
	}
}
