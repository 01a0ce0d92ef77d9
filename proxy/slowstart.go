package proxy

import (
	"time"

	"github.com/tether-proxy/tether/routing"
)

// Slow start (slow_start D): a member that becomes usable again (it
// recovered after a passive failure, passed its active check, was enabled
// by an operator, or joined through discovery) gets a growing share of new
// sessions: rampFloor of the share its weight gives at first, all of it
// after D, linearly between (HAProxy's slowstart). Requests of its own
// sessions reach it at once. The share lives in routing.Load.Ramp, which
// Run refreshes every tick; routing turns new sessions away from the
// member accordingly (see routing.Load.Ramp).

// rampFloor is the share, in thousandths, a warming member starts with:
// small enough to spare a cold JVM, large enough to warm it.
const rampFloor = 50

// startRamp begins m's slow start at now (no-op without slow_start).
func (b *Balancer) startRamp(m *member, now time.Time) {
	if b.cfg.SlowStart <= 0 {
		return
	}
	m.rampFrom.Store(now.UnixNano())
	m.load.Ramp.Store(rampFloor)
}

// ramp refreshes m's share at now, ending its slow start after the
// balancer's slow_start.
func (b *Balancer) ramp(m *member, now time.Time) {
	from := m.rampFrom.Load()
	if from == 0 {
		return
	}
	r := rampShare(time.Unix(0, from), now, b.cfg.SlowStart)
	if r == 0 {
		m.rampFrom.Store(0)
	}
	m.load.Ramp.Store(r)
}

// rampShare is the share, in thousandths, of a member warming up since
// from over d, at now: rampFloor at first, rising evenly; 0 (full) once d
// has passed.
func rampShare(from, now time.Time, d time.Duration) uint32 {
	el := now.Sub(from)
	if d <= 0 || el >= d {
		return 0
	}
	return uint32(max(rampFloor, int64(el)*1000/int64(d)))
}

// warming returns m's share of new sessions in percent while it warms up,
// or 0 when it takes its full share.
func (m *member) warming() int {
	r := m.load.Ramp.Load()
	if r == 0 || r >= 1000 {
		return 0
	}
	return max(int(r)/10, 1)
}

// becameUsable is called when a member's state changes from st to active
// by an operator: it warms up from there.
func (b *Balancer) becameUsable(m *member, from routing.State, to routing.State) {
	if from != routing.Active && to == routing.Active && m.load.Healthy.Load() {
		b.startRamp(m, b.now())
	}
}
