package proxy

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Outlier ejection (issue 15; config.Outlier): every interval the
// balancer's Run judges each member's attempts of that interval, and
// ejects a member whose error ratio reached failure_ratio, or whose mean
// time to response headers is latency_factor times its peers' median, for
// base_ejection_time × the times it was ejected (capped), never taking more
// than max_ejection of the members out. An ejected member is out as a
// passively failed one is: Run puts it back when its time is up (active
// checks, when on, must pass too).

// outlierCounts are a member's attempts in the current interval. The
// request path adds to them (atomics, no allocation); judgeOutliers swaps
// them to zero once an interval.
type outlierCounts struct {
	attempts atomic.Uint64 // answers and transport failures
	errors   atomic.Uint64 // 5xx answers and transport failures the member caused
	answers  atomic.Uint64 // answers, for the latency mean
	latency  atomic.Int64  // sum of the answers' times to headers, ns
}

// answer counts an answer of the member.
func (c *outlierCounts) answer(code int, d time.Duration) {
	c.attempts.Add(1)
	c.answers.Add(1)
	c.latency.Add(int64(d))
	if code >= 500 {
		c.errors.Add(1)
	}
}

// failure counts a transport failure the member caused (client faults
// never reach here: roundTrip returns before).
func (c *outlierCounts) failure() {
	c.attempts.Add(1)
	c.errors.Add(1)
}

// outlierSample is one member's counts of one interval.
type outlierSample struct {
	attempts, errors, answers uint64
	latency                   time.Duration // mean; 0 without answers
}

func (c *outlierCounts) take() outlierSample {
	s := outlierSample{attempts: c.attempts.Swap(0), errors: c.errors.Swap(0), answers: c.answers.Swap(0)}
	if lat := c.latency.Swap(0); s.answers > 0 {
		s.latency = time.Duration(lat / int64(s.answers))
	}
	return s
}

// judgeOutliers is one interval's judgement of the members.
func (b *Balancer) judgeOutliers(now time.Time) {
	o := b.cfg.Outlier
	set := b.set.Load()
	samples := make([]outlierSample, len(set.members))
	for i, m := range set.members {
		samples[i] = m.outlier.take()
	}
	minReq := uint64(max(o.MinRequests, 1))
	b.healthMu.Lock()
	defer b.healthMu.Unlock()
	out := 0
	for _, m := range set.members {
		if !m.load.Healthy.Load() {
			out++
		}
	}
	maxOut := len(set.members) * o.MaxEjection / 100
	for i, m := range set.members {
		s := samples[i]
		if s.attempts < minReq {
			continue
		}
		reason := b.outlierReason(samples, i)
		if reason == "" {
			m.ejectionDecay()
			continue
		}
		if !m.load.Healthy.Load() {
			continue // out already (failed, ejected meanwhile, or held by a check)
		}
		if out+1 > maxOut {
			b.ejectionsKept.Add(1)
			b.log.Warn().Str("member", m.name).Str("reason", reason).Int("out", out).Int("members", len(set.members)).
				Int("max_ejection_percent", o.MaxEjection).Msg("outlier not ejected: max_ejection reached")
			continue
		}
		d, n := m.eject(now, o.BaseEjectionTime, o.MaxEjectionTime, reason)
		out++
		b.ejections.Add(1)
		b.recent.add(FailoverEvent{At: now, From: m.name, Reason: fmt.Sprintf("ejected for %s: %s", d, reason)})
		b.log.Warn().Str("member", m.name).Str("reason", reason).Dur("ejection_time", d).Int("ejections", n).Msg("member ejected")
	}
}

// outlierReason says why member i's sample is an outlier, or "".
func (b *Balancer) outlierReason(samples []outlierSample, i int) string {
	o := b.cfg.Outlier
	s := samples[i]
	if s.errors*100 >= uint64(o.FailureRatio)*s.attempts {
		return fmt.Sprintf("error ratio %d%% (%d of %d attempts) over %s", s.errors*100/s.attempts, s.errors, s.attempts, o.Interval)
	}
	if o.LatencyFactor == 0 || s.answers < uint64(max(o.MinRequests, 1)) {
		return ""
	}
	var peers []time.Duration
	for j, p := range samples {
		if j != i && p.answers >= uint64(max(o.MinRequests, 1)) {
			peers = append(peers, p.latency)
		}
	}
	if len(peers) == 0 {
		return ""
	}
	slices.Sort(peers)
	med := peers[len(peers)/2]
	if len(peers)%2 == 0 {
		med = (peers[len(peers)/2-1] + peers[len(peers)/2]) / 2
	}
	if float64(s.latency) >= o.LatencyFactor*float64(max(med, time.Microsecond)) {
		return fmt.Sprintf("mean latency %s, %.1f× its peers' median %s over %s", s.latency.Round(time.Microsecond),
			float64(s.latency)/float64(max(med, time.Microsecond)), med.Round(time.Microsecond), o.Interval)
	}
	return ""
}

// eject takes the member out for base × its ejections (this one
// included), capped at maxD. It returns the time and the count.
func (m *member) eject(now time.Time, base, maxD time.Duration, reason string) (time.Duration, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ejections++
	d := min(base*time.Duration(m.ejections), maxD)
	m.downUntil = now.Add(d)
	m.downReason = "ejected: " + reason
	m.ejected = true
	m.ejectedAt = now
	m.load.Healthy.Store(false)
	m.ejectedTotal.Add(1)
	return d, m.ejections
}

// ejectionDecay lowers the back-off's multiplier after an interval the
// member passed (Envoy's: a member that behaves earns its short ejection
// back).
func (m *member) ejectionDecay() {
	m.mu.Lock()
	if m.ejections > 0 && !m.ejected {
		m.ejections--
	}
	m.mu.Unlock()
}

// ejection reports whether the member is out through ejection, and since
// and until when.
func (m *member) ejection() (ejected bool, at, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ejected, m.ejectedAt, m.downUntil
}

// resilienceStatus fills in a balancer's retry budget and ejection
// counters.
func (b *Balancer) resilienceStatus(bs *BalancerStatus) {
	bs.Ejections, bs.EjectionsKept = b.ejections.Load(), b.ejectionsKept.Load()
	if rb := b.budget; rb != nil {
		bs.RetriesRefused = rb.refused.Load()
		req, ret := rb.window(b.now().UnixNano())
		c := b.cfg.RetryBudget
		bs.RetryBudget = &RetryBudgetStatus{Percent: c.Percent, Window: c.Window.String(), Requests: req, Retries: ret,
			Allowed: rb.ratio*float64(req) + rb.floor}
	}
}

// ejectionStatus fills in a member's ejections.
func (m *member) ejectionStatus(ms *MemberStatus) {
	ms.Ejections = m.ejectedTotal.Load()
	if ejected, at, until := m.ejection(); ejected {
		ms.EjectedAt, ms.EjectedUntil = &at, &until
	}
}
